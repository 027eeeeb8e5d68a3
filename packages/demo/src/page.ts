/** The demo page: plays the live demo channel (or `?manifest=&token=`) with the Vigil video.js plugin. */
export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Vigil demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/demo/assets/videojs/video-js.min.css">
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #111; color: #eee; }
  main { max-width: 960px; margin: 2rem auto; padding: 0 1rem; }
  code { background: #222; padding: 0.1em 0.3em; border-radius: 3px; }
  #status { color: #9c9; min-height: 1.5em; }
  #status.error { color: #f88; }
  #rotation { color: #aaa; }
</style>
</head>
<body>
<main>
  <h1>Vigil demo: a protected live channel</h1>
  <p id="status">Loading…</p>
  <video id="video" class="video-js vjs-big-play-centered" controls muted playsinline></video>
  <p>This session: <code id="session">–</code>, watermarked on the picture. <span id="rotation"></span></p>
  <p>Ban it from a terminal: <code id="ban">npx vigil ban --session …</code>. The origin refuses this
  session its next segment and the key server its next key, so playback stops within seconds, and at the
  latest at the next key rotation, whatever a ripped player does (this page sends no heartbeats).
  <code>npx vigil unban --session …</code> lets a new session play.</p>
  <p>Other streams: <code>/demo?manifest=&lt;DASH or HLS URL&gt;&amp;token=&lt;viewer token&gt;</code>,
  <code>/demo?hls=1</code> plays this channel's HLS (AES-128) instead of its DASH.</p>
</main>
<script src="/demo/assets/videojs/video.min.js"></script>
<script src="/demo/assets/vigil-player.js"></script>
<script>
(async () => {
  const status = document.getElementById('status');
  const say = (text, error) => { status.textContent = text; status.className = error ? 'error' : ''; };
  const params = new URLSearchParams(location.search);
  let manifest = params.get('manifest');
  let token = params.get('token');
  let keyPeriod;
  if (!manifest || !token) {
    for (;;) {
      const res = await fetch('/demo/session', { cache: 'no-store' });
      const body = await res.json();
      if (res.ok) {
        manifest = manifest || (params.get('hls') ? body.hls : body.dash);
        token = token || body.token;
        keyPeriod = body.keyPeriodSeconds;
        break;
      }
      if (res.status !== 503) { say(body.message || 'the demo is not available', true); return; }
      say(body.message + ' …');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  let sessionId = '…';
  try {
    sessionId = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sessionId;
  } catch {}
  document.getElementById('session').textContent = sessionId;
  document.getElementById('ban').textContent = 'npx vigil ban --session ' + sessionId;
  const type = /\\.m3u8(\\?|$)/.test(manifest) ? 'application/x-mpegURL' : 'application/dash+xml';
  const player = videojs('video', { fluid: true, autoplay: 'muted', html5: { vhs: { overrideNative: true } } });
  player.vigil({ server: location.origin, token, heartbeat: false, src: { src: manifest, type } });
  player.on('vigil:banned', () => say('Playback stopped: this session is banned.', true));
  player.on('vigil:stopped', (_e, d) => { if (d && d.reason !== 'banned') say('Playback stopped: ' + (d.reason || ''), true); });
  say('Playing ' + manifest);
  if (keyPeriod) {
    const rotation = document.getElementById('rotation');
    setInterval(() => {
      const t = player.currentTime();
      if (!(t > 0)) return;
      rotation.textContent = 'Next key rotation in ' + Math.ceil(keyPeriod - (t % keyPeriod)) + ' s.';
    }, 500);
  }
  window.vigilDemoPlayer = player;
})().catch((err) => {
  const status = document.getElementById('status');
  status.textContent = String(err);
  status.className = 'error';
});
</script>
</body>
</html>
`;
