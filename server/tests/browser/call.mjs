// A translated call between two headless Chromium pages, driven through the web client's own
// form and buttons, as people would use it. Run by server/tests/browser.rs:
//
//   node call.mjs <server url> <speech.wav> <outdir>
//
// Page A (Alice) speaks English: her fake microphone plays <speech.wav> once. Page B (Bao)
// speaks Vietnamese, reads Vietnamese captions and hears translated speech. The script waits
// until B has shown the final English captions and their Vietnamese translations, measures
// caption latencies from B's caption elements, then checks the controls (mute, camera,
// transcript download, reconnect after a dropped socket, leave) and prints one JSON summary on
// stdout. Progress goes to stderr. Screenshots: <outdir>/page-a.png, page-b.png,
// page-b-phone.png (B at a phone's size) and page-a-after-leave.png.
//
// If <speech.wav>.json exists ({"segments":[{"start_ms","end_ms","text"}], "duration_ms"}),
// it says when each clip is spoken in the file: the script then also estimates the delay from
// the end of each clip to its final caption on B.
//
// Environment: DRAGOMAN_CALL_TIMEOUT_S (default 300) bounds the wait for captions;
// CHROMIUM (default /usr/bin/chromium) is the browser.

import { chromium } from 'playwright-core';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [url, wavArg, outArg] = process.argv.slice(2);
if (!url || !wavArg || !outArg) {
  console.error('usage: node call.mjs <server url> <speech.wav> <outdir>');
  process.exit(2);
}
const wav = resolve(wavArg);
const outdir = resolve(outArg);
mkdirSync(outdir, { recursive: true });
const ROOM = 'browser-test';
const TIMEOUT_MS = Number(process.env.DRAGOMAN_CALL_TIMEOUT_S || 420) * 1000;
/** Once the last clip's words are in a final caption, nothing may change for this long... */
const SETTLE_MS = 5_000;
/** ...and without them (misheard), the captions count as done after this long unchanged: the
 * speech-to-text may lag the speech by a minute in a debug build on a busy machine, but it
 * shows partials as it goes. */
const QUIET_MS = 60_000;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const log = (...args) => console.error(`[call ${new Date().toISOString().slice(11, 23)}]`, ...args);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const schedule = existsSync(`${wav}.json`) ? JSON.parse(readFileSync(`${wav}.json`, 'utf8')) : null;

/** One second of silence: page B's microphone (the default fake device beeps, and Whisper
 * would caption the beeps). */
function silentWav(path) {
  const rate = 48_000;
  const samples = rate;
  const data = Buffer.alloc(samples * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([header, data]));
  return path;
}

/** A browser whose fake microphone plays `audioFile` (once with `noloop`). A separate browser
 * per page: the fake capture file is a command-line switch of the whole browser process. */
async function launch(audioFile, noloop) {
  const args = [
    // A slow fake camera: encoding and decoding video competes with the speech models for
    // the CPU, and the test is about captions.
    '--use-fake-device-for-media-stream=fps=8',
    '--use-fake-ui-for-media-stream',
    `--use-file-for-fake-audio-capture=${audioFile}${noloop ? '%noloop' : ''}`,
    // ICE with real addresses (the room does not resolve mDNS .local candidates).
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    // Sound may start without a click (the translated voice plays on B).
    '--autoplay-policy=no-user-gesture-required',
  ];
  // Chromium refuses to run as root with its sandbox on.
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  return chromium.launch({ executablePath, headless: true, args });
}

async function openPage(browser, label) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (['error', 'warning'].includes(m.type())) log(`${label} console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log(`${label} page error: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

/** Fills the join form and joins; resolves once the media connection is up. */
async function joinCall(page, { name, spoken, captions, hear }) {
  await page.fill('#name', name);
  await page.fill('#room', ROOM);
  await page.selectOption('#spoken', spoken);
  await page.selectOption('#captions-lang', captions);
  if (await page.isDisabled('#hear-translated')) {
    log(`${name}: the server has no voice for ${captions}; no translated speech`);
  } else {
    await page.setChecked('#hear-translated', hear);
  }
  await page.click('#join-button');
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: 60_000 });
}

/** Every caption line on a page, as the page shows it. */
function readCaptions(page) {
  return page.$$eval('#captions .caption', (lines) => lines.map((line) => ({
    speaker: line.dataset.speaker,
    caption_id: Number(line.dataset.captionId),
    lang: line.dataset.lang,
    source_lang: line.dataset.sourceLang,
    original: line.dataset.original === 'true',
    final: line.dataset.final === 'true',
    revision: Number(line.dataset.revision),
    text: line.querySelector('.text').textContent,
    first_at: Number(line.dataset.firstAt),
    final_at: line.dataset.finalAt ? Number(line.dataset.finalAt) : null,
  })));
}

const percentile = (values, p) => {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const stats = (values) => ({
  n: values.length,
  p50_ms: percentile(values, 50),
  p95_ms: percentile(values, 95),
  max_ms: values.length ? Math.max(...values) : null,
});
const words = (text) => text.toLowerCase().replace(/[^\p{L}\p{N}' ]+/gu, ' ').split(/\s+/).filter(Boolean);

/** Latencies from B's caption lines. */
function measure(lines, mediaStartedAt) {
  const groups = new Map();
  for (const line of lines) {
    const key = `${line.speaker}|${line.caption_id}`;
    if (!groups.has(key)) groups.set(key, { original: null, translations: [] });
    if (line.original) groups.get(key).original = line;
    else groups.get(key).translations.push(line);
  }
  const partialToFinal = [];
  const translationAfterOriginal = [];
  const translationFirstAfterOriginal = [];
  const translationFirstAfterOriginalFirst = [];
  const utterances = [];
  for (const { original, translations } of groups.values()) {
    if (!original || !original.final) continue;
    partialToFinal.push(original.final_at - original.first_at);
    const vi = translations.find((t) => t.lang === 'vi');
    if (vi && vi.final) {
      translationAfterOriginal.push(vi.final_at - original.final_at);
      translationFirstAfterOriginal.push(vi.first_at - original.final_at);
      translationFirstAfterOriginalFirst.push(vi.first_at - original.first_at);
    }
    utterances.push({ original, vi });
  }
  // The end of each clip in the file -> the final original caption that closes it (the one
  // sharing the most words with the clip's last words). Approximate: the fake microphone
  // starts playing the file when getUserMedia returns.
  const speechEndToFinal = [];
  if (schedule && mediaStartedAt) {
    for (const segment of schedule.segments) {
      const tail = new Set(words(segment.text).slice(-4));
      let best = null;
      let bestScore = 0;
      for (const { original } of utterances) {
        const score = words(original.text).filter((w) => tail.has(w)).length;
        if (score > bestScore) { best = original; bestScore = score; }
      }
      if (best) speechEndToFinal.push(best.final_at - (mediaStartedAt + segment.end_ms));
    }
  }
  return {
    original_partial_to_final: stats(partialToFinal),
    translation_final_after_original_final: stats(translationAfterOriginal),
    // Negative: a translation of a partial showed before the original was final.
    translation_first_after_original_final: stats(translationFirstAfterOriginal),
    translation_first_after_original_first: stats(translationFirstAfterOriginalFirst),
    speech_end_to_original_final_approx: stats(speechEndToFinal),
    per_clip_speech_end_to_original_final_ms: speechEndToFinal,
  };
}

/** Whether the last words of the speech are in a final original caption. */
function heardTheEnd(finals) {
  if (!schedule) return false;
  const tail = words(schedule.segments[schedule.segments.length - 1].text).slice(-3);
  return finals.some((line) => {
    const end = words(line.text).slice(-6);
    return tail.filter((w) => end.includes(w)).length >= 2;
  });
}

/** Waits until B's captions are complete: the speech is over, every utterance has a final
 * original and a final Vietnamese translation, and either the last words were heard and
 * nothing changed for SETTLE_MS, or nothing changed for QUIET_MS. */
async function waitForCaptions(pageB, speechEndsAt) {
  const deadline = Date.now() + TIMEOUT_MS;
  let lastSignature = '';
  let lastChange = Date.now();
  let lines = [];
  let lastReport = 0;
  while (Date.now() < deadline) {
    lines = await readCaptions(pageB);
    const signature = lines.map((l) => `${l.speaker}|${l.caption_id}|${l.lang}|${l.revision}|${l.final}`).join(',');
    if (signature !== lastSignature) {
      lastSignature = signature;
      lastChange = Date.now();
    }
    const originals = lines.filter((l) => l.original && l.speaker);
    const finals = originals.filter((l) => l.final);
    const translated = lines.filter((l) => !l.original && l.lang === 'vi' && l.final);
    const allFinal = lines.length > 0 && lines.every((l) => l.final);
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      log(`B: ${finals.length}/${originals.length} final originals, ${translated.length} final vi translations`);
    }
    const unchanged = Date.now() - lastChange;
    if (Date.now() > speechEndsAt && finals.length > 0 && allFinal
        && translated.length >= finals.length
        && ((heardTheEnd(finals) && unchanged > SETTLE_MS) || unchanged > QUIET_MS)) {
      return { lines, complete: true };
    }
    await sleep(500);
  }
  return { lines, complete: false };
}

/** The server's own view (`GET /metrics`): queue drops and pipeline stage latencies. */
async function serverMetrics() {
  try {
    const text = await (await fetch(new URL('/metrics', url))).text();
    return text.split('\n').filter((line) => /^dragoman_(queue_drops|pipeline_stage_seconds_(sum|count))/.test(line));
  } catch (err) {
    return [`unavailable: ${err.message}`];
  }
}

/** Clicks through the controls and reports what happened. */
async function checkControls(pageA, pageB, aliceId, baoId) {
  const result = {};

  // Mute: the microphone track is disabled (the room keeps the track) and the button says so.
  await pageA.click('#mic-button');
  result.mute = await pageA.evaluate(() => ({
    enabled: window.dragoman.local.getAudioTracks()[0].enabled,
    button: document.querySelector('#mic-button').textContent,
    tile_muted: document.querySelector('.tile.local').dataset.muted,
  }));
  await pageA.click('#mic-button');
  result.unmute = await pageA.evaluate(() => ({
    enabled: window.dragoman.local.getAudioTracks()[0].enabled,
    button: document.querySelector('#mic-button').textContent,
  }));

  // Camera off and on again.
  await pageA.click('#camera-button');
  result.camera_off = await pageA.evaluate(() => ({
    enabled: window.dragoman.local.getVideoTracks()[0]?.enabled ?? null,
    button: document.querySelector('#camera-button').textContent,
    tile_no_video: document.querySelector('.tile.local').classList.contains('no-video'),
  }));
  await pageA.click('#camera-button');
  result.camera_on = await pageA.evaluate(() => ({
    enabled: window.dragoman.local.getVideoTracks()[0]?.enabled ?? null,
  }));

  // What B receives from A, and which of A's voices B hears.
  result.b_sees_a = await pageB.evaluate((id) => {
    const tile = document.querySelector(`.tile[data-participant="${id}"]`);
    return tile && { tracks: tile.dataset.tracks, audio_source: tile.dataset.audioSource, no_video: tile.classList.contains('no-video') };
  }, aliceId);
  // Whether B's video element for A actually shows frames.
  result.b_video_of_a = await pageB.evaluate((id) => {
    const video = document.querySelector(`.tile[data-participant="${id}"] video`);
    return video && { width: video.videoWidth, height: video.videoHeight, ready_state: video.readyState };
  }, aliceId);

  // Transcript downloads, each format.
  result.transcripts = {};
  for (const format of ['vtt', 'srt', 'json']) {
    await pageB.selectOption('#transcript-format', format);
    try {
      const [download] = await Promise.all([
        pageB.waitForEvent('download', { timeout: 15_000 }),
        pageB.click('#transcript-button'),
      ]);
      const path = join(outdir, `transcript.${format}`);
      await download.saveAs(path);
      const text = readFileSync(path, 'utf8');
      result.transcripts[format] = { file: download.suggestedFilename(), bytes: text.length, head: text.slice(0, 300) };
    } catch (err) {
      const shown = await pageB.textContent('#notice');
      result.transcripts[format] = { error: `${err.message.split('\n')[0]}; page says: ${shown}` };
    }
  }

  // Reconnect: drop B's signaling socket as a network failure would (not a leave).
  const dropAt = Date.now();
  await pageB.evaluate(() => window.dragoman.session.ws.close(4000, 'test: dropped'));
  try {
    await pageB.waitForSelector('#connection[data-state="reconnecting"]', { timeout: 5_000 });
    await pageB.waitForSelector('#connection[data-state="connected"]', { timeout: 60_000 });
    await pageB.waitForFunction((id) => window.dragoman.participants.has(id), aliceId, { timeout: 30_000 });
    // A sees B again after the replacement (B left and joined, with the same identity).
    await pageA.waitForFunction((id) => window.dragoman.participants.has(id), baoId, { timeout: 30_000 });
    const state = await pageB.evaluate((id) => ({
      participant_id: window.dragoman.participantId,
      tile_tracks: document.querySelector(`.tile[data-participant="${id}"]`)?.dataset.tracks ?? null,
    }), aliceId);
    result.reconnect = { ok: true, ms: Date.now() - dropAt, same_identity: state.participant_id === baoId, ...state };
  } catch (err) {
    result.reconnect = { ok: false, error: err.message.split('\n')[0], status: await pageB.textContent('#connection') };
  }

  // Leave: B goes back to the join form; A sees B go.
  const leaveAt = Date.now();
  const currentBao = await pageB.evaluate(() => window.dragoman.participantId);
  await pageB.click('#leave-button');
  try {
    await pageB.waitForSelector('#join-view:not([hidden])', { timeout: 5_000 });
    await pageA.waitForFunction((id) => !window.dragoman.participants.has(id)
      && !document.querySelector(`.tile[data-participant="${id}"]`), currentBao, { timeout: 15_000 });
    result.leave = { ok: true, ms: Date.now() - leaveAt };
  } catch (err) {
    result.leave = { ok: false, error: err.message.split('\n')[0] };
  }
  return result;
}

async function main() {
  const startedAt = Date.now();
  const browserB = await launch(silentWav(join(outdir, 'silence.wav')), false);
  const browserA = await launch(wav, true);
  try {
    const pageB = await openPage(browserB, 'B');
    const pageA = await openPage(browserA, 'A');
    const languages = await pageB.$$eval('#spoken option', (os) => os.map((o) => o.value));
    for (const code of ['en', 'vi']) {
      if (!languages.includes(code)) throw new Error(`the language menu lacks ${code}: ${languages.join(' ')}`);
    }

    // B first, so that A's speech (which starts when A's microphone opens) has a listener.
    log('B joins');
    await joinCall(pageB, { name: 'Bao', spoken: 'vi', captions: 'vi', hear: true });
    log('A joins');
    await joinCall(pageA, { name: 'Alice', spoken: 'en', captions: 'en', hear: false });
    const aliceId = await pageA.evaluate(() => window.dragoman.participantId);
    const baoId = await pageB.evaluate(() => window.dragoman.participantId);
    const mediaStartedAt = await pageA.evaluate(() => window.dragoman.mediaStartedAt);
    log(`A is ${aliceId}, B is ${baoId}; A's microphone opened ${Date.now() - mediaStartedAt} ms ago`);
    await pageB.waitForFunction((id) => window.dragoman.participants.has(id), aliceId, { timeout: 30_000 });

    const speechMs = schedule ? schedule.duration_ms : 0;
    const { lines, complete } = await waitForCaptions(pageB, mediaStartedAt + speechMs);
    log(complete ? 'captions complete' : 'timed out waiting for captions');
    const linesA = await readCaptions(pageA);

    await pageA.screenshot({ path: join(outdir, 'page-a.png') });
    await pageB.screenshot({ path: join(outdir, 'page-b.png') });
    // The same call on a phone-sized screen (the layout stacks).
    await pageB.setViewportSize({ width: 390, height: 844 });
    await pageB.screenshot({ path: join(outdir, 'page-b-phone.png') });
    await pageB.setViewportSize({ width: 1280, height: 800 });
    const tileA = await pageB.evaluate((id) => document.querySelector(`.tile[data-participant="${id}"]`)?.dataset.tracks ?? null, aliceId);

    const metrics = await serverMetrics();
    const controls = await checkControls(pageA, pageB, aliceId, baoId);
    // One more look at A after B left (the participant list and tiles without B).
    await pageA.screenshot({ path: join(outdir, 'page-a-after-leave.png') });

    const summary = {
      complete,
      elapsed_ms: Date.now() - startedAt,
      alice: aliceId,
      bao: baoId,
      a_media_started_at: mediaStartedAt,
      b_tracks_from_a: tileA,
      latency: measure(lines, mediaStartedAt),
      server_metrics: metrics,
      captions_b: lines,
      captions_a: linesA,
      controls,
      screenshots: ['page-a.png', 'page-b.png', 'page-b-phone.png', 'page-a-after-leave.png'].map((f) => join(outdir, f)),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await Promise.allSettled([browserA.close(), browserB.close()]);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
