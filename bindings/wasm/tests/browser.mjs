// dragoman's WebAssembly build in headless Chromium, as a web page uses it: the page's Web
// Worker (web/dragoman-worker.js) loads Whisper base and Silero VAD from model files served
// over HTTP, transcribes real recordings as one file, then captions them live (16 kHz, 20 ms
// pushes in real time, as a microphone delivers them). Prints one JSON summary: the .wasm's
// size, model load time, both word error rates against the recordings' own texts, file
// transcription's compute against the audio's length, and the live finals' delays.
//
//   node browser.mjs <pkg dir> <models dir> <dir of CLIP.wav + CLIP.txt> CLIP...
//
// CHROMIUM (default /usr/bin/chromium) is the browser.

import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';

const [pkgArg, modelsArg, audioArg, ...clips] = process.argv.slice(2);
if (!pkgArg || !modelsArg || !audioArg || clips.length === 0) {
  console.error('usage: node browser.mjs <pkg dir> <models dir> <audio dir> CLIP...');
  process.exit(2);
}
const web = resolve(new URL('../web', import.meta.url).pathname);
const roots = { '/pkg/': resolve(pkgArg), '/models/': resolve(modelsArg), '/audio/': resolve(audioArg), '/': web };
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const log = (...args) => console.error('[wasm]', ...args);

const server = createServer(async (request, response) => {
  const path = decodeURIComponent(new URL(request.url, 'http://x').pathname);
  const [prefix, root] = Object.entries(roots).find(([p]) => path.startsWith(p));
  const file = normalize(join(root, path.slice(prefix.length)));
  try {
    if (!file.startsWith(root)) throw new Error('outside the root');
    const body = await readFile(file);
    response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    response.end(body);
  } catch {
    response.writeHead(404).end();
  }
});
await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
const base = `http://127.0.0.1:${server.address().port}`;

/** Words as spoken: lower case, no punctuation. */
const words = (text) => text.toLowerCase().replace(/[^\p{L}\p{N}' ]+/gu, ' ').split(/\s+/).filter(Boolean);
/** Word errors (substitutions, deletions, insertions) of `heard` against `reference`. */
function wordErrors(reference, heard) {
  const [r, h] = [words(reference), words(heard)];
  let row = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const next = [i];
    for (let j = 1; j <= h.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return { errors: row[h.length], words: r.length, wer: row[h.length] / r.length };
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
try {
  const page = await browser.newPage();
  page.on('console', (message) => log('page:', message.text()));
  await page.goto(`${base}/index.html`);
  const result = await page.evaluate(async (clips) => {
    // Same worker as the demo page; the harness takes its messages from here.
    const worker = new Worker('./dragoman-worker.js', { type: 'module' });
    const next = (type) =>
      new Promise((done, fail) => {
        worker.onmessage = ({ data }) => {
          if (data.type === 'error') fail(new Error(data.message));
          else if (data.type === type) done(data);
          else if (data.type === 'caption') captions.push(data.caption);
        };
      });
    const captions = [];
    let ready = next('loaded');
    worker.postMessage({ type: 'load', whisper: 'models/whisper-base', vad: 'models/silero-vad' });
    const loaded = await ready;
    // The recordings back to back, decoded and resampled to 16 kHz by the browser.
    const context = new OfflineAudioContext(1, 1, 16_000);
    const parts = [];
    for (const clip of clips) {
      const bytes = await (await fetch(`audio/${clip}.wav`)).arrayBuffer();
      parts.push((await context.decodeAudioData(bytes)).getChannelData(0));
    }
    const audio = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (audio.set(p, at), at + p.length), 0);

    ready = next('transcript');
    worker.postMessage({ type: 'transcribe', samples: audio, sampleRate: 16_000, language: 'en' });
    const file = await ready;

    // Live: 20 ms pushes in real time, as a microphone delivers them; each final's delay is
    // measured from when its audio's end was pushed.
    const started = performance.now();
    const finalAt = [];
    worker.postMessage({ type: 'start', language: 'en' });
    const listening = next('finished');
    const onCaption = worker.onmessage;
    worker.onmessage = (event) => {
      if (event.data.type === 'caption' && event.data.caption.type === 'final') {
        finalAt.push((performance.now() - started) / 1000 - event.data.caption.end);
      }
      onCaption(event);
    };
    for (let at = 0; at < audio.length; at += 320) {
      const due = started + (at / 16_000) * 1000;
      if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
      worker.postMessage({ type: 'push', samples: audio.slice(at, at + 320), sampleRate: 16_000 });
    }
    worker.postMessage({ type: 'finish' });
    await listening;
    return {
      seconds: audio.length / 16_000,
      load_s: loaded.seconds,
      file_s: file.seconds,
      file_text: file.transcript.text,
      live_s: (performance.now() - started) / 1000,
      final_delays: finalAt,
      finals: captions.filter((c) => c.type === 'final').map((c) => c.text),
      partials: captions.filter((c) => c.type === 'partial').length,
    };
  }, clips);
  const reference = (await Promise.all(clips.map((c) => readFile(join(audioArg, `${c}.txt`), 'utf8')))).join(' ');
  const wasm = await stat(join(pkgArg, 'dragoman_wasm_bg.wasm'));
  const summary = {
    wasm_mb: +(wasm.size / 1e6).toFixed(2),
    audio_s: +result.seconds.toFixed(1),
    load_s: +result.load_s.toFixed(2),
    file: { ...wordErrors(reference, result.file_text), rtf: +(result.file_s / result.seconds).toFixed(3) },
    live: {
      ...wordErrors(reference, result.finals.join(' ')),
      // Wall time from the first push to the last final, against the audio's length.
      wall_over_audio: +(result.live_s / result.seconds).toFixed(3),
      // Seconds from pushing a final's last audio to receiving it, sorted.
      final_delays_s: result.final_delays.map((d) => +d.toFixed(2)).sort((a, b) => a - b),
      finals: result.finals.length,
      partials: result.partials,
    },
  };
  console.log(JSON.stringify(summary));
} finally {
  await browser.close();
  server.close();
}
