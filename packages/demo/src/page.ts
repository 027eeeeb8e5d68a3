/** The demo page: plays the sample (or `?manifest=&token=`) with the Vigil video.js plugin. */
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
</style>
</head>
<body>
<main>
  <h1>Vigil demo</h1>
  <p id="status">Loading…</p>
  <video id="video" class="video-js vjs-big-play-centered" controls muted playsinline></video>
  <p>This session: <code id="session">–</code>. Ban it with <code id="ban">npx vigil ban --session …</code>:
  playback stops when the next key is refused. Play any stream with
  <code>/demo?manifest=&lt;DASH or HLS URL&gt;&amp;token=&lt;viewer token&gt;</code>.</p>
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
  if (!manifest || !token) {
    for (;;) {
      const res = await fetch('/demo/session', { cache: 'no-store' });
      const body = await res.json();
      if (res.ok) { manifest = manifest || body.manifest; token = token || body.token; break; }
      if (res.status !== 503) { say(body.message || 'the demo is not available', true); return; }
      say(body.message + ' …');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    const claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    document.getElementById('session').textContent = claims.sessionId;
    document.getElementById('ban').textContent = 'npx vigil ban --session ' + claims.sessionId;
  } catch {}
  const player = videojs('video', { fluid: true, autoplay: 'muted', html5: { vhs: { overrideNative: true } } });
  player.vigil({ server: location.origin, token });
  player.on('vigil:banned', () => say('Playback stopped: this session is banned.', true));
  player.src({ src: manifest, type: /\\.m3u8(\\?|$)/.test(manifest) ? 'application/x-mpegURL' : 'application/dash+xml' });
  say('Playing ' + manifest);
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
