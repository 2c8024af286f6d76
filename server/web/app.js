// dragoman web client: a translated video call in the browser.
//
// No framework and no build step: the server embeds this file as it is. The protocol is
// rtc/src/PROTOCOL.md: one WebSocket for signaling (one JSON message per text frame) and two
// RTCPeerConnections per participant, as LiveKit does it:
//   - publisher: what we send (microphone, camera). We offer, the room answers.
//   - subscriber: what we receive (the others' audio and video, their words spoken in our
//     language as `speech-<lang>` tracks, and the `captions` data channel). The room offers,
//     we answer, as often as it likes (it offers again whenever the tracks change).
// Captions come twice, over signaling and over the data channel (whichever is faster); the
// caption board drops the duplicate.

'use strict';

/** Heartbeat: a ping this often... */
const PING_EVERY_MS = 10_000;
/** ...and the connection counts as dead when no pong came for this long. */
const PONG_TIMEOUT_MS = 25_000;
/** Reconnect delays in seconds; the last one repeats. */
const BACKOFF_S = [1, 2, 4, 8, 15];
/** The caption board keeps this many utterances (the transcript download has them all). */
const MAX_CAPTION_GROUPS = 1000;
/** Where the join form's choices are remembered. */
const STORAGE_KEY = 'dragoman.join';

const $ = (id) => document.getElementById(id);

/**
 * Everything the page knows. Exposed as `window.dragoman` for debugging in the console (and
 * for the end-to-end browser test, which reads the same state a person would see).
 */
const app = {
  name: '',
  room: '',
  /** {spoken, captions, audio} as sent in `join`; absent fields are left out. */
  languages: {},
  token: '',
  /** Unix seconds when a guest token expires (0: unknown, e.g. an invitation token). */
  tokenExpires: 0,
  /** Whether the token came from the guest join endpoint (so a new one can be fetched). */
  guest: false,
  /** Our microphone and camera, or null when listening only. */
  local: null,
  /** When getUserMedia gave us the tracks (ms since the epoch). */
  mediaStartedAt: 0,
  /** The current signaling session (a new one on each reconnect). */
  session: null,
  participantId: null,
  /** id -> {id, name, languages} of everyone else in the room. */
  participants: new Map(),
  leaving: false,
  reconnectAttempt: 0,
  reconnectTimer: 0,
  media: null,
  captions: null,
};
window.dragoman = app;

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Creates an element with a class and optional text. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Shows `text` in the status area under the controls (non-fatal problems, hints). */
function notice(text, kind = 'info') {
  const box = $('notice');
  box.textContent = text;
  box.dataset.kind = kind;
  // Old news should not stay forever; errors stay a little longer.
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.textContent = ''; }, kind === 'error' ? 15_000 : 6_000);
}

/** Sets the connection indicator in the top bar. */
function setConnection(state, text) {
  const badge = $('connection');
  badge.dataset.state = state;
  badge.textContent = text;
}

/** The name of participant `id` as people see it. */
function nameOf(id) {
  if (id === app.participantId) return `${app.name} (you)`;
  const p = app.participants.get(id);
  return p ? p.name : id;
}

/** A server error body `{"error":{"code","message"}}` as one line for people. */
async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch {
    // Not JSON: fall through to the status line.
  }
  return `${response.status} ${response.statusText}`.trim();
}

/** The room's REST base path; room names are user input, so they are escaped. */
function roomPath(room) {
  return `/v1/rooms/${encodeURIComponent(room)}`;
}

// ---------------------------------------------------------------------------------------------
// Join form

/** Languages the server can speak translated words in (code -> true). */
const speechLanguages = new Map();

/**
 * Fills the language menus from the server (`GET /v1/languages`): each entry says whether the
 * server transcribes it (`speech_to_text`), translates into it (`translation`) and has a voice
 * for it (`speech`). A flag the server leaves out counts as yes.
 */
async function loadLanguages() {
  let languages = [];
  try {
    const response = await fetch('/v1/languages');
    if (!response.ok) throw new Error(await errorText(response));
    languages = (await response.json()).languages || [];
  } catch (err) {
    showJoinError(`Could not load the languages: ${err.message}`);
  }
  languages.sort((a, b) => a.name.localeCompare(b.name));
  for (const lang of languages) {
    // The server's names can be lower case ("vietnamese"); menus read better capitalised.
    const label = `${lang.name.charAt(0).toUpperCase()}${lang.name.slice(1)} (${lang.code})`;
    if (lang.speech_to_text !== false) $('spoken').append(new Option(label, lang.code));
    if (lang.translation !== false) $('captions-lang').append(new Option(label, lang.code));
    speechLanguages.set(lang.code, lang.speech !== false);
  }
  return languages.map((l) => l.code);
}

/** Restores the remembered choices, else guesses from the browser's language. */
function restoreChoices(codes) {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || '{}');
  } catch {
    // Private mode or garbage: start fresh.
  }
  const browser = (navigator.language || '').split('-')[0];
  const guess = codes.includes(browser) ? browser : '';
  $('name').value = saved.name || '';
  $('spoken').value = saved.spoken || guess || 'auto';
  $('captions-lang').value = saved.captions ?? guess;
  $('hear-translated').checked = Boolean(saved.hear);
  // A menu keeps its first option when the saved code is no longer offered.
  if ($('spoken').selectedIndex < 0) $('spoken').selectedIndex = 0;
  if ($('captions-lang').selectedIndex < 0) $('captions-lang').selectedIndex = 0;
  const params = new URLSearchParams(location.search);
  $('room').value = params.get('room') || saved.room || '';
  if (params.get('token')) $('token-note').hidden = false;
  syncHearToggle();
}

/** Translated speech is in the caption language, so it needs one with a voice. */
function syncHearToggle() {
  const code = $('captions-lang').value;
  const possible = code !== '' && speechLanguages.get(code) !== false;
  $('hear-translated').disabled = !possible;
  if (!possible) $('hear-translated').checked = false;
}

function showJoinError(text) {
  const box = $('join-error');
  box.textContent = text;
  box.hidden = !text;
}

/** Asks for microphone and camera; a missing camera means audio only, no mic means listening. */
async function getMedia() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    notice('Microphone and camera need a secure page (HTTPS or localhost); joining to listen only.', 'error');
    return null;
  }
  const video = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24 } };
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video });
  } catch (err) {
    console.info('camera unavailable, trying the microphone alone:', err);
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    notice(`No microphone (${err.message}); joining to listen only.`, 'error');
    return null;
  }
}

/** A guest token: `POST /v1/rooms/{room}/join` with our name. */
async function guestToken(room, name) {
  const response = await fetch(`${roomPath(room)}/join`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

async function onJoin(event) {
  event.preventDefault();
  showJoinError('');
  const name = $('name').value.trim();
  const room = $('room').value.trim();
  if (!name || !room) {
    showJoinError('Please enter your name and a room.');
    return;
  }
  const spoken = $('spoken').value;
  const captions = $('captions-lang').value;
  const hear = $('hear-translated').checked && captions !== '';
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ name, room, spoken, captions, hear }));
  } catch {
    // Storage can be full or disabled; remembering is a convenience.
  }
  app.name = name;
  app.room = room;
  // Absent fields mean "detect" (spoken), "original only" (captions), "own voices" (audio).
  app.languages = {};
  if (spoken && spoken !== 'auto') app.languages.spoken = spoken;
  if (captions) app.languages.captions = captions;
  if (hear) app.languages.audio = captions;

  $('join-button').disabled = true;
  try {
    app.local = await getMedia();
    app.mediaStartedAt = Date.now();
    const invitation = new URLSearchParams(location.search).get('token');
    if (invitation) {
      app.token = invitation;
      app.tokenExpires = 0;
      app.guest = false;
    } else {
      const grant = await guestToken(room, name);
      app.token = grant.token;
      app.tokenExpires = grant.expires_at || 0;
      app.guest = true;
    }
  } catch (err) {
    stopLocalMedia();
    showJoinError(err.message);
    $('join-button').disabled = false;
    return;
  }
  $('join-button').disabled = false;
  enterCall();
}

// ---------------------------------------------------------------------------------------------
// The call

function enterCall() {
  app.leaving = false;
  app.reconnectAttempt = 0;
  app.participantId = null;
  app.participants.clear();
  app.captions.clear();
  $('join-view').hidden = true;
  $('call-view').hidden = false;
  $('room-title').textContent = app.room;
  $('room-title').hidden = false;
  document.title = `${app.room} — dragoman`;
  const audio = app.local && app.local.getAudioTracks()[0];
  const video = app.local && app.local.getVideoTracks()[0];
  $('mic-button').disabled = !audio;
  $('camera-button').disabled = !video;
  updateControlLabels();
  app.media.reset();
  renderParticipants();
  connect();
}

/** Starts a fresh signaling session (and peer connections), dropping the old one. */
async function connect() {
  clearTimeout(app.reconnectTimer);
  if (app.session) app.session.close();
  app.session = null;
  app.media.clearRemote();
  // A guest whose token is about to expire gets a new one rather than a refusal.
  if (app.guest && app.tokenExpires && app.tokenExpires * 1000 < Date.now() + 60_000) {
    try {
      const grant = await guestToken(app.room, app.name);
      app.token = grant.token;
      app.tokenExpires = grant.expires_at || 0;
    } catch (err) {
      scheduleReconnect(`a new token was refused: ${err.message}`);
      return;
    }
  }
  if (app.leaving) return;
  setConnection('connecting', app.reconnectAttempt ? 'Reconnecting…' : 'Connecting…');
  app.session = new Session();
  app.session.open();
}

/** Called when the current session died without us leaving: try again, more slowly each time. */
function scheduleReconnect(reason) {
  if (app.leaving) return;
  if (app.session) app.session.close();
  app.session = null;
  app.media.clearRemote();
  const delay = BACKOFF_S[Math.min(app.reconnectAttempt, BACKOFF_S.length - 1)];
  app.reconnectAttempt += 1;
  setConnection('reconnecting', `Reconnecting in ${delay} s (${reason})`);
  clearTimeout(app.reconnectTimer);
  app.reconnectTimer = setTimeout(connect, delay * 1000);
}

/** Leaves the room for good and goes back to the join form. */
function leave() {
  app.leaving = true;
  clearTimeout(app.reconnectTimer);
  if (app.session) {
    app.session.send({ type: 'leave' });
    app.session.close();
    app.session = null;
  }
  stopLocalMedia();
  app.media.reset();
  app.participants.clear();
  app.participantId = null;
  renderParticipants();
  $('call-view').hidden = true;
  $('join-view').hidden = false;
  $('room-title').hidden = true;
  document.title = 'dragoman — translated call';
  setConnection('idle', 'Left the room');
}

function stopLocalMedia() {
  if (app.local) for (const track of app.local.getTracks()) track.stop();
  app.local = null;
}

/**
 * One signaling connection and its two peer connections. A reconnect throws the whole
 * session away and starts a new one, so a late event of an old session can never touch the
 * new one (each handler checks `this.closed`).
 */
class Session {
  constructor() {
    this.ws = null;
    this.publisher = null;
    this.subscriber = null;
    this.closed = false;
    this.joined = false;
    /** Remote candidates that came before the remote description they belong to. */
    this.early = { publisher: [], subscriber: [] };
    /** SDP work runs one step at a time, in message order (offers, answers, candidates). */
    this.chain = Promise.resolve();
    /** mid -> {stream, track, sending} from the subscriber's latest remote offer. */
    this.msids = new Map();
    /** mid -> {stream, track} from `track` events, for offers without `a=msid`. */
    this.trackEvents = new Map();
    this.pingId = 0;
    this.lastPingAt = 0;
    this.lastPongAt = 0;
    this.ticker = 0;
  }

  open() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ws = new WebSocket(`${scheme}//${location.host}${roomPath(app.room)}/signal`);
    this.ws.onopen = () => this.onOpen();
    this.ws.onmessage = (event) => this.onMessage(event.data);
    // `error` is always followed by `close`, which does the work.
    this.ws.onclose = (event) => {
      if (!this.closed) this.lost(`signaling closed${event.code ? ` (${event.code})` : ''}`);
    };
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Ends this session: closes the socket and both peer connections, stops the heartbeat. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.onmessage = null;
      // 1000: a normal close; the server drops our participant if we did not `leave`.
      try { this.ws.close(1000); } catch { /* already closing */ }
    }
    for (const pc of [this.publisher, this.subscriber]) if (pc) pc.close();
  }

  /** The session broke (socket closed, heartbeat missed, media failed): reconnect. */
  lost(reason) {
    if (this.closed || app.session !== this) return;
    console.warn('connection lost:', reason);
    scheduleReconnect(reason);
  }

  onOpen() {
    if (this.closed) return;
    this.publisher = this.makePeer('publisher');
    this.subscriber = this.makePeer('subscriber');
    this.subscriber.ontrack = (event) => this.onTrack(event);
    this.subscriber.ondatachannel = (event) => {
      const channel = event.channel;
      if (channel.label !== 'captions') return;
      channel.onmessage = (message) => {
        if (this.closed || typeof message.data !== 'string') return;
        try {
          const caption = JSON.parse(message.data);
          if (caption.type === 'caption') app.captions.add(caption);
        } catch (err) {
          console.warn('bad caption on the data channel', err);
        }
      };
    };
    this.send({ type: 'join', token: app.token, name: app.name, languages: app.languages });
    this.lastPongAt = Date.now();
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  /** Heartbeat: a ping every PING_EVERY_MS; no pong for PONG_TIMEOUT_MS means a dead link. */
  tick() {
    const now = Date.now();
    if (now - this.lastPongAt > PONG_TIMEOUT_MS) {
      this.lost('no answer to the heartbeat');
      return;
    }
    if (now - this.lastPingAt >= PING_EVERY_MS) {
      this.lastPingAt = now;
      this.pingId += 1;
      this.send({ type: 'ping', id: this.pingId });
    }
  }

  makePeer(target) {
    // No ICE servers: the room's host candidates are reachable (same host or public address).
    const pc = new RTCPeerConnection();
    pc.onicecandidate = (event) => {
      if (this.closed) return;
      const c = event.candidate;
      // A null candidate ends gathering; the protocol says that with an empty candidate.
      this.send(c && c.candidate
        ? { type: 'candidate', target, candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
        : { type: 'candidate', target, candidate: '' });
    };
    pc.onconnectionstatechange = () => {
      if (this.closed) return;
      if (pc.connectionState === 'failed') this.lost(`${target} media connection failed`);
      if (pc.connectionState === 'connected' && target === 'subscriber') {
        // Media flows again: the next loss starts the backoff from the beginning.
        app.reconnectAttempt = 0;
        setConnection('connected', 'Connected');
      }
    };
    return pc;
  }

  /** Runs `step` after the SDP work queued before it; failures become notices. */
  enqueue(step) {
    this.chain = this.chain.then(() => (this.closed ? undefined : step())).catch((err) => {
      if (this.closed) return;
      console.error(err);
      notice(`Media negotiation failed: ${err.message}`, 'error');
    });
  }

  onMessage(data) {
    if (this.closed) return;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn('not JSON from the server', data);
      return;
    }
    switch (message.type) {
      case 'joined':
        this.joined = true;
        app.participantId = message.participant_id;
        app.participants.clear();
        for (const p of message.participants || []) app.participants.set(p.id, p);
        renderParticipants();
        app.media.render();
        setConnection('connecting', 'Joined; connecting media…');
        this.enqueue(() => this.publish());
        break;
      case 'offer':
        this.enqueue(() => this.answerOffer(message.sdp));
        break;
      case 'answer':
        this.enqueue(async () => {
          await this.publisher.setRemoteDescription({ type: 'answer', sdp: message.sdp });
          await this.flushCandidates('publisher');
        });
        break;
      case 'candidate':
        this.enqueue(() => this.addCandidate(message));
        break;
      case 'caption':
        app.captions.add(message);
        break;
      case 'participant_joined':
      case 'participant_updated':
        app.participants.set(message.id, message);
        renderParticipants();
        app.media.render();
        break;
      case 'participant_left':
        app.participants.delete(message.participant_id);
        renderParticipants();
        app.media.render();
        break;
      case 'pong':
        this.lastPongAt = Date.now();
        break;
      case 'pipeline_error':
        notice(`Captions of ${nameOf(message.participant_id)} (${message.stage}): ${message.message}`, 'error');
        break;
      case 'audio_shed':
        notice(`The server fell behind: ${(message.dropped_ms / 1000).toFixed(1)} s of your speech was not captioned.`, 'error');
        break;
      case 'error':
        this.onError(message);
        break;
      default:
        console.info('unknown message', message);
    }
  }

  onError(message) {
    const text = `${message.message || 'error'} (${message.code})`;
    if (message.code === 'unauthorized' && !this.joined) {
      // The token is no good (expired, or for another room). A guest can get a new one; an
      // invitation cannot be repaired here.
      if (app.guest) {
        app.tokenExpires = 1; // forces connect() to fetch a new token
        this.lost('the token was refused');
      } else {
        leave();
        showJoinError(`The invitation was refused: ${text}`);
      }
      return;
    }
    if (message.code === 'room_full' && !this.joined) {
      leave();
      showJoinError(text);
      return;
    }
    notice(text, 'error');
  }

  /** Sends our microphone and camera: one offer on the publisher connection. */
  async publish() {
    const tracks = app.local ? app.local.getTracks() : [];
    if (!tracks.length) return; // listening only
    for (const track of tracks) {
      // sendonly: the room never sends anything on the publisher connection.
      this.publisher.addTransceiver(track, { direction: 'sendonly', streams: [app.local] });
    }
    const offer = await this.publisher.createOffer();
    await this.publisher.setLocalDescription(offer);
    this.send({ type: 'offer', sdp: offer.sdp });
  }

  /** The room offered on the subscriber connection (first time, or its tracks changed). */
  async answerOffer(sdp) {
    this.msids = parseMsids(sdp);
    await this.subscriber.setRemoteDescription({ type: 'offer', sdp });
    await this.flushCandidates('subscriber');
    const answer = await this.subscriber.createAnswer();
    await this.subscriber.setLocalDescription(answer);
    this.send({ type: 'answer', sdp: answer.sdp });
    this.syncRemoteTracks();
  }

  async addCandidate(message) {
    const target = message.target === 'subscriber' ? 'subscriber' : 'publisher';
    if (!message.candidate) return; // the room's end of candidates
    const init = {
      candidate: message.candidate,
      sdpMid: message.sdpMid ?? null,
      sdpMLineIndex: message.sdpMLineIndex ?? null,
    };
    const pc = target === 'publisher' ? this.publisher : this.subscriber;
    // A candidate can overtake the description it belongs to; keep it until then.
    if (!pc.remoteDescription) {
      this.early[target].push(init);
      return;
    }
    await pc.addIceCandidate(init);
  }

  async flushCandidates(target) {
    const pc = target === 'publisher' ? this.publisher : this.subscriber;
    const early = this.early[target];
    this.early[target] = [];
    for (const init of early) {
      try {
        await pc.addIceCandidate(init);
      } catch (err) {
        console.warn('early ICE candidate refused', err);
      }
    }
  }

  onTrack(event) {
    // Remember what the browser reports, for offers without `a=msid` lines.
    const mid = event.transceiver && event.transceiver.mid;
    const stream = event.streams[0];
    if (mid !== null && mid !== undefined && stream) {
      this.trackEvents.set(mid, { stream: stream.id, track: event.track.id });
    }
    this.syncRemoteTracks();
  }

  /**
   * Which participant and which kind each received track is. Firefox makes up its own remote
   * track ids, so the truth is the `a=msid:<participant> <track id>` line of the room's offer,
   * looked up by the transceiver's mid; only sections the room still sends on count (it stops
   * sending when a participant leaves or the languages change).
   */
  syncRemoteTracks() {
    if (this.closed) return;
    const live = [];
    for (const transceiver of this.subscriber.getTransceivers()) {
      const mid = transceiver.mid;
      if (mid === null) continue;
      const fromSdp = this.msids.get(mid);
      if (fromSdp && !fromSdp.sending) continue;
      const ids = (fromSdp && fromSdp.stream) ? fromSdp : this.trackEvents.get(mid);
      if (!ids || !ids.stream || !ids.track) continue;
      live.push({ owner: ids.stream, trackId: ids.track, track: transceiver.receiver.track });
    }
    app.media.setRemote(live);
  }
}

/**
 * mid -> {stream, track, sending} of each media section of an SDP: the stream id is the
 * participant, the track id says `audio`, `video` or `speech-<lang>`.
 */
function parseMsids(sdp) {
  const result = new Map();
  // Media sections start at each "m=" line; the session part before the first one is skipped.
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    let mid = null;
    let msid = null;
    // Port 0: a section the offer rejects (a recycled slot).
    let sending = !/^\S+ 0 /.test(section);
    for (const line of section.split(/\r?\n/)) {
      if (line.startsWith('a=mid:')) mid = line.slice(6).trim();
      else if (line.startsWith('a=msid:')) msid = line.slice(7).trim().split(/\s+/);
      else if (line === 'a=recvonly' || line === 'a=inactive') sending = false;
    }
    if (mid === null) continue;
    result.set(mid, { stream: msid ? msid[0] : null, track: msid ? msid[1] : null, sending });
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Video tiles and audio

/**
 * The tiles: ours (a muted preview) and one per other participant, with their video and the
 * audio we chose for them: their own voice, or, with translated speech on, their words spoken
 * in our language (`speech-<lang>`) while their own voice stays silent.
 */
class Media {
  constructor(container) {
    this.container = container;
    /** participant id -> Map(track id -> MediaStreamTrack) */
    this.remote = new Map();
    /** participant id -> tile element */
    this.tiles = new Map();
  }

  reset() {
    this.remote.clear();
    for (const tile of this.tiles.values()) this.dropTile(tile);
    this.tiles.clear();
    this.render();
  }

  clearRemote() {
    this.remote.clear();
    this.render();
  }

  /** Replaces the received tracks with `live` ([{owner, trackId, track}]). */
  setRemote(live) {
    this.remote.clear();
    for (const { owner, trackId, track } of live) {
      if (!this.remote.has(owner)) this.remote.set(owner, new Map());
      this.remote.get(owner).set(trackId, track);
    }
    this.render();
  }

  /** The track to hear from `tracks` (one participant's), and its id. */
  chooseAudio(tracks) {
    const want = app.languages.audio;
    if (want) {
      const exact = tracks.get(`speech-${want}`);
      if (exact) return ['speech-' + want, exact];
      // The room only sends speech in our audio language; accept its spelling of the code.
      for (const [id, track] of tracks) if (id.startsWith('speech-')) return [id, track];
    }
    const own = tracks.get('audio');
    return own ? ['audio', own] : ['', null];
  }

  render() {
    const wanted = new Set();
    // Our own tile stays for the whole call, through reconnects, even when listening only.
    if (!app.leaving && !$('call-view').hidden) wanted.add('local');
    for (const id of app.participants.keys()) wanted.add(id);
    for (const id of this.remote.keys()) wanted.add(id);
    for (const [id, tile] of this.tiles) {
      if (!wanted.has(id)) {
        this.dropTile(tile);
        this.tiles.delete(id);
      }
    }
    for (const id of wanted) {
      let tile = this.tiles.get(id);
      if (!tile) {
        tile = this.makeTile(id);
        this.tiles.set(id, tile);
        if (id === 'local') this.container.prepend(tile);
        else this.container.append(tile);
      }
      if (id === 'local') this.fillLocal(tile);
      else this.fillRemote(tile, this.remote.get(id) || new Map());
    }
    this.container.dataset.count = String(this.tiles.size);
  }

  makeTile(id) {
    const tile = el('div', 'tile');
    tile.dataset.participant = id;
    const video = el('video');
    video.autoplay = true;
    video.playsInline = true;
    // Video elements never make sound: audio plays through the tile's <audio>, so that we can
    // pick which of the participant's voices to hear.
    video.muted = true;
    const avatar = el('div', 'avatar');
    const label = el('div', 'label');
    tile.append(video, avatar, label);
    if (id !== 'local') {
      const audio = el('audio');
      audio.autoplay = true;
      tile.append(audio);
    } else {
      tile.classList.add('local');
    }
    return tile;
  }

  dropTile(tile) {
    for (const media of tile.querySelectorAll('video, audio')) media.srcObject = null;
    tile.remove();
  }

  fillLocal(tile) {
    const video = app.local && app.local.getVideoTracks()[0];
    const audio = app.local && app.local.getAudioTracks()[0];
    setTrack(tile.querySelector('video'), video || null);
    const cameraOn = Boolean(video && video.enabled);
    tile.classList.toggle('no-video', !cameraOn);
    tile.querySelector('.avatar').textContent = initials(app.name);
    const muted = !audio || !audio.enabled;
    tile.querySelector('.label').textContent = `${app.name || 'You'} (you)${muted ? ' · muted' : ''}`;
    tile.dataset.muted = String(muted);
  }

  fillRemote(tile, tracks) {
    const id = tile.dataset.participant;
    const video = tracks.get('video') || null;
    setTrack(tile.querySelector('video'), video);
    tile.classList.toggle('no-video', !video);
    const [audioId, audio] = this.chooseAudio(tracks);
    setTrack(tile.querySelector('audio'), audio);
    tile.dataset.audioSource = audioId;
    tile.dataset.tracks = [...tracks.keys()].sort().join(' ');
    const name = nameOf(id);
    tile.querySelector('.avatar').textContent = initials(name);
    tile.querySelector('.label').textContent =
      audioId.startsWith('speech-') ? `${name} · translated voice` : name;
  }
}

/** Points a media element at one track (or nothing), leaving it alone when unchanged. */
function setTrack(media, track) {
  const current = media.srcObject && media.srcObject.getTracks()[0];
  if (current === track || (!current && !track)) return;
  media.srcObject = track ? new MediaStream([track]) : null;
  if (track) {
    media.play().catch((err) => {
      // Autoplay policy: sound may wait for a click (a reconnect can happen without one).
      if (err.name === 'NotAllowedError') askForSound();
    });
  }
}

/** Shows a hint and resumes every media element on the next click. */
function askForSound() {
  if (askForSound.waiting) return;
  askForSound.waiting = true;
  notice('Click anywhere to turn on the sound.', 'error');
  document.addEventListener('click', () => {
    askForSound.waiting = false;
    for (const media of document.querySelectorAll('audio, video')) media.play().catch(() => {});
  }, { once: true });
}

function initials(name) {
  return (name || '?').trim().split(/\s+/).slice(0, 2).map((w) => w[0] || '').join('').toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Captions

/**
 * The caption board. One group per utterance (speaker, caption_id), holding the original line
 * (lang == source_lang) first and a line per translation. A partial replaces the line's text in
 * place; a final fixes it for good. Elements carry data attributes (data-speaker,
 * data-caption-id, data-lang, data-original, data-final, data-first-at, data-final-at) so tools
 * can read what a person sees.
 */
class CaptionBoard {
  constructor(container) {
    this.container = container;
    /** `${speaker}|${caption_id}` -> {group, lines: Map(key -> line element)} */
    this.groups = new Map();
    /** Revisions already shown: the same caption comes over signaling and the data channel. */
    this.seen = new Set();
  }

  clear() {
    this.groups.clear();
    this.seen.clear();
    this.container.replaceChildren();
  }

  add(c) {
    if (typeof c.text !== 'string' || c.speaker === undefined) return;
    const identity = `${c.speaker}|${c.caption_id}|${c.lang}|${c.revision}|${c.is_final}`;
    if (this.seen.has(identity)) return;
    this.seen.add(identity);
    if (this.seen.size > 50_000) this.seen.clear(); // bounded memory in a day-long call

    // Only scroll along when the reader is at the bottom (not reading back).
    const box = this.container;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;

    const key = `${c.speaker}|${c.caption_id}`;
    let entry = this.groups.get(key);
    if (!entry) {
      entry = this.makeGroup(c);
      this.groups.set(key, entry);
      this.container.append(entry.group);
      this.trim();
    }
    // The original is one line even when its language changes: with detected languages its
    // partials say "und" until the final names the language.
    const original = c.lang === c.source_lang;
    const lineKey = original ? '' : c.lang;
    let line = entry.lines.get(lineKey);
    if (!line) {
      line = this.makeLine(c, original);
      entry.lines.set(lineKey, line);
      if (original) entry.body.prepend(line);
      else entry.body.append(line);
    }
    // A final is the caption's last word, unless the stronger model refined it since.
    if (line.dataset.final === 'true' && !c.refined) return;
    if (line.dataset.lang === c.lang && Number(line.dataset.revision) > c.revision) return; // stale
    const now = String(Date.now());
    if (!line.dataset.firstAt) line.dataset.firstAt = now;
    line.dataset.lang = c.lang;
    line.dataset.sourceLang = c.source_lang;
    line.dataset.revision = String(c.revision);
    line.dataset.final = String(Boolean(c.is_final));
    line.classList.toggle('refined', Boolean(c.refined));
    if (c.refined) line.title = 'Translated again by the stronger model';
    if (c.is_final) line.dataset.finalAt = now;
    line.querySelector('.lang').textContent = c.lang === 'und' ? '…' : c.lang.toUpperCase();
    line.querySelector('.text').textContent = c.text;
    entry.name.textContent = c.speaker === app.participantId ? `${c.speaker_name} (you)` : c.speaker_name;

    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  makeGroup(c) {
    const group = el('article', 'caption-group');
    group.dataset.speaker = c.speaker;
    group.dataset.captionId = String(c.caption_id);
    const head = el('header', 'caption-head');
    const name = el('span', 'speaker', c.speaker_name);
    const time = el('time', 'when', new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    head.append(name, time);
    const body = el('div', 'caption-body');
    group.append(head, body);
    return { group, name, body, lines: new Map() };
  }

  makeLine(c, original) {
    const line = el('p', original ? 'caption original' : 'caption translation');
    line.dataset.speaker = c.speaker;
    line.dataset.captionId = String(c.caption_id);
    line.dataset.original = String(original);
    line.dataset.revision = '-1';
    line.append(el('span', 'lang'), el('span', 'text'));
    return line;
  }

  /** Drops the oldest utterances beyond MAX_CAPTION_GROUPS. */
  trim() {
    while (this.groups.size > MAX_CAPTION_GROUPS) {
      const [oldest, entry] = this.groups.entries().next().value;
      entry.group.remove();
      this.groups.delete(oldest);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Participants and controls

function renderParticipants() {
  const list = $('participants');
  list.replaceChildren();
  const describe = (l = {}) => {
    const parts = [`speaks ${l.spoken || 'auto'}`];
    if (l.captions) parts.push(`reads ${l.captions}`);
    if (l.audio) parts.push(`hears ${l.audio}`);
    return parts.join(' · ');
  };
  const people = [];
  if (app.participantId) people.push({ id: app.participantId, name: `${app.name} (you)`, languages: app.languages });
  for (const p of app.participants.values()) people.push(p);
  for (const p of people) {
    const item = el('li', 'person');
    item.dataset.participant = p.id;
    item.append(el('span', 'person-name', p.name), el('span', 'person-langs', describe(p.languages)));
    list.append(item);
  }
  $('people-count').textContent = String(people.length);
}

function updateControlLabels() {
  const audio = app.local && app.local.getAudioTracks()[0];
  const video = app.local && app.local.getVideoTracks()[0];
  const micOff = !audio || !audio.enabled;
  const camOff = !video || !video.enabled;
  $('mic-button').textContent = micOff ? 'Unmute' : 'Mute';
  $('mic-button').setAttribute('aria-pressed', String(micOff));
  $('camera-button').textContent = camOff ? 'Camera on' : 'Camera off';
  $('camera-button').setAttribute('aria-pressed', String(camOff));
}

/** Mute and camera off only disable the tracks: the room keeps its tracks, no renegotiation. */
function toggleTrack(kind) {
  const track = app.local && (kind === 'audio' ? app.local.getAudioTracks()[0] : app.local.getVideoTracks()[0]);
  if (!track) return;
  track.enabled = !track.enabled;
  updateControlLabels();
  app.media.render();
}

/** Fetches the room's transcript with our token and saves it as a file. */
async function downloadTranscript() {
  const format = $('transcript-format').value;
  const button = $('transcript-button');
  button.disabled = true;
  try {
    const response = await fetch(`${roomPath(app.room)}/transcript?format=${encodeURIComponent(format)}`, {
      headers: { Authorization: `Bearer ${app.token}` },
    });
    if (!response.ok) throw new Error(await errorText(response));
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = el('a');
    link.href = url;
    link.download = `${app.room}-transcript.${format}`;
    document.body.append(link);
    link.click();
    link.remove();
    // The download has started by now; the URL can go after a moment.
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    notice(`Transcript download failed: ${err.message}`, 'error');
  } finally {
    button.disabled = false;
  }
}

/** Copies a link that opens this page in this room (everyone gets their own guest token). */
async function copyInvite() {
  const link = `${location.origin}${location.pathname}?room=${encodeURIComponent(app.room)}`;
  try {
    await navigator.clipboard.writeText(link);
    notice('Invitation link copied.');
  } catch {
    // No clipboard on plain HTTP pages: show the link to copy by hand.
    notice(`Invite others with: ${link}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Start

async function main() {
  app.media = new Media($('tiles'));
  app.captions = new CaptionBoard($('captions'));
  $('join-form').addEventListener('submit', onJoin);
  $('captions-lang').addEventListener('change', syncHearToggle);
  $('mic-button').addEventListener('click', () => toggleTrack('audio'));
  $('camera-button').addEventListener('click', () => toggleTrack('video'));
  $('leave-button').addEventListener('click', leave);
  $('transcript-button').addEventListener('click', downloadTranscript);
  $('invite-button').addEventListener('click', copyInvite);
  // Back online: no need to wait for the backoff.
  window.addEventListener('online', () => {
    if (!app.leaving && app.room && !app.session) connect();
  });
  // Closing the tab: say goodbye so the others see us leave at once.
  window.addEventListener('pagehide', () => {
    if (app.session) app.session.send({ type: 'leave' });
  });
  const codes = await loadLanguages();
  restoreChoices(codes);
  document.body.dataset.ready = 'true';
}

main();
