// dragoman in a Web Worker: the wasm module's decodes hold the thread for a second or more,
// so they run here, never on the page's thread. The page talks to it with messages:
//
//   { type: 'load', whisper: URL, vad: URL }      -> { type: 'loaded', seconds }
//   { type: 'transcribe', samples: Float32Array, sampleRate, language? }
//                                                 -> { type: 'transcript', transcript, seconds }
//   { type: 'start', language? }                  (a live caption session)
//   { type: 'push', samples: Float32Array, sampleRate }
//                                                 -> { type: 'caption', caption } for each caption
//                                                    (pushes that queue during a decode are
//                                                    decoded together)
//   { type: 'finish' }                            -> captions, then { type: 'finished' }
//
// Errors come back as { type: 'error', message }. `whisper` and `vad` are the URLs of model
// directories as `dragoman models pull` lays them out (whisper-base: config.json,
// tokenizer.json, model.safetensors; silero-vad: model.safetensors).
import init, { Captioner, ModelFiles } from './pkg/dragoman_wasm.js';

let captioner = null;
let session = null;
/** Audio pushed since the last decode, and its rate: while a decode holds the thread, the
 * pushes queue up as messages; they are taken together and pushed as one piece (one decode for
 * all of it, as the call server does), so a slow machine decodes less often instead of falling
 * behind. */
let pending = [];
let pendingRate = 0;
let flushing = false;

function flush() {
  flushing = false;
  if (!session || pending.length === 0) return;
  const samples = new Float32Array(pending.reduce((n, p) => n + p.length, 0));
  pending.reduce((at, p) => (samples.set(p, at), at + p.length), 0);
  pending = [];
  try {
    session.pushPcm(samples, pendingRate);
    drain();
  } catch (error) {
    postMessage({ type: 'error', message: String(error?.message ?? error) });
  }
}

async function modelFiles(base, names) {
  const files = new ModelFiles();
  for (const name of names) {
    const response = await fetch(`${base}/${name}`);
    if (!response.ok) throw new Error(`${base}/${name}: HTTP ${response.status}`);
    files.add(name, new Uint8Array(await response.arrayBuffer()));
  }
  return files;
}

function drain() {
  for (let caption; (caption = session.nextEvent()) !== undefined; ) {
    postMessage({ type: 'caption', caption });
  }
}

function need(value, what) {
  if (!value) throw new Error(`${what} first`);
  return value;
}

self.onmessage = async ({ data }) => {
  try {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    switch (data.type) {
      case 'load': {
        await init();
        const whisper = await modelFiles(data.whisper, ['config.json', 'tokenizer.json', 'model.safetensors']);
        const vad = await modelFiles(data.vad, ['model.safetensors']);
        captioner = new Captioner(whisper, vad);
        postMessage({ type: 'loaded', seconds: seconds() });
        break;
      }
      case 'transcribe': {
        const transcript = need(captioner, 'load').transcribe(data.samples, data.sampleRate, data.language);
        postMessage({ type: 'transcript', transcript, seconds: seconds() });
        break;
      }
      case 'start':
        session = need(captioner, 'load').session(data.language);
        break;
      case 'push':
        need(session, 'start');
        if (pending.length > 0 && data.sampleRate !== pendingRate) flush();
        pending.push(data.samples);
        pendingRate = data.sampleRate;
        // After the messages already queued (more pushes) are taken.
        if (!flushing) {
          flushing = true;
          setTimeout(flush, 0);
        }
        break;
      case 'finish':
        flush();
        need(session, 'start').finish();
        drain();
        session = null;
        postMessage({ type: 'finished' });
        break;
      default:
        throw new Error(`unknown message type ${JSON.stringify(data.type)}`);
    }
  } catch (error) {
    postMessage({ type: 'error', message: String(error?.message ?? error) });
  }
};
