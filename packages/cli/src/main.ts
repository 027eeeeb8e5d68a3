import { parseArgs } from 'node:util';
import { ControlError } from '@vigil/control';
import { commands } from './commands.ts';
import { UsageError, usageRefusal } from './usage-error.ts';

const USAGE = `vigil <command> [options]

  serve      [--port 8080] [--host 127.0.0.1] [--data ./.vigil] [--no-demo] [--no-worker]   run the key server, control API and /demo
             (and a media processing worker, unless --no-worker or VIGIL_MEDIA_WORKER=0)
  worker     [--data ./.vigil] [--license-url-base <url>]   a media processing worker on its own (same store and data folder)
  token      --session <id> --resource <id> --ip <addr> [--ttl 3600] [--sub <user>]   mint a viewer token
             [--path <file> [--server <url>]]   and print the signed origin URL of <file> of the resource
  apikey     create [--role admin|operator|readonly] [--name <text>] | list | revoke <prefix> [--all]
  ban        --session <id> | --ip <addr> [--reason <text>] [--expires <date-time, e.g. 2030-01-31T12:00:00Z>]
  unban      <ban id> | --session <id> | --ip <addr>
  bans       list the bans
  config     [get] | set <field>=<value> ...   watermark config (enabled, mode, textIntervalSeconds, ...)
  keys       create --resource <id> [--periods 1] [--track all|audio|sd|hd|uhd]... [--ttl 604800] | list --resource <id>
  tenant     create <id> [--name <text>] | list
  user       add <name> --role readonly|operator|admin|platform | list | remove <name> | passwd <name>
             console operators of the tenant; add and passwd read the password from stdin's first line
             (typed hidden at a terminal). The console is served at /admin by \`vigil serve\`
  live       start <id> [--input test|rtmp://0.0.0.0:1935/live/key|srt://0.0.0.0:9000|<file>|<hls url>]
             [--resource <id>] [--key-period 30] [--segment-duration 2] [--window 60]
             [--ladder 360:800k,270:500k,180:250k] [--preset veryfast] [--no-loop] [--takeover]
             | stop <id> | status [<id>] | delete <id>
             live channels, run by \`vigil serve\` on the same store: encrypted with keys rotating every
             key period, published as live DASH and HLS under /origin/<tenant>/<resource>/ (with
             --takeover, on a resource holding other content: under <resource>/live/)
  package    <input> --out <dir> --resource <id> [--scheme cenc|cbcs|none] [--segment-duration 4]
             [--key-period 15] [--hls-aes128] [--allow-no-audio] [--server <url> --api-key <key>]
             [--license-url-base <url>] [--key-ttl <seconds>] [--work-dir <dir>]
             transcode and encrypt a video into <dir>: manifest.mpd (DASH) and master.m3u8 (HLS); keys go to
             the store, or with --server to a running Vigil over SPEKE. With --hls-aes128, master.m3u8 is
             the AES-128 TS set and master-cenc.m3u8 the fMP4 one.
  inspect    <file>   the box tree and encryption metadata of an MP4 segment
  inspect    <package dir> [--server <url> --token <viewer token>]   check that every segment decrypts
             with the keys of the store (or of the key server) and decodes
  detect     <file | URL> [--json] [--mode auto|color|text] [--evidence <dir>] [--max-seconds 180]
             [--server <url> --api-key <key>]
             which session a recording or restream (file, HLS, DASH, progressive) was captured from,
             with evidence frames and the session's access log; with --server, run by that Vigil
             (the file is uploaded, a URL passed: POST /v1/detections)
  watch      <URL> [--json] [--ban] [--mode auto|color] [--threshold 1e-4] [--windows 2] [--window <s>]
             follow a live restream, one line per event; with --ban, ban the identified session once
             the threshold is passed in enough disjoint windows

  cloudfront sign --url <url> --key-pair-id <id> --private-key <pem file> [--expires <time> | --ttl 3600]
             [--resource <pattern>] [--starts <time>] [--ip <cidr>] [--cookies]
             a CloudFront signed URL (canned; custom with --resource, --starts or --ip) or, with
             --cookies, the CloudFront-* signed cookies, for a CloudFront in front of Vigil's origin

A refused operation prints one line on stderr, \`vigil: <message>\` (with VIGIL_ERROR_CODES=1:
\`error: <code>: <message>\`, the code the control API answers with), and exits non-zero.
Every command takes --data <dir> (default ./.vigil, or VIGIL_DATA) and --tenant <id> (default "default").
With DATABASE_URL set, the store is that PostgreSQL database instead of the --data folder.`;

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}" (try: vigil --help)`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: command.options,
    allowPositionals: true,
    strict: true,
  });
  await command.run(values as Record<string, string | boolean | string[] | undefined>, positionals);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  // A refusal of the control plane: its code too when asked (VIGIL_ERROR_CODES=1), for scripts.
  const line =
    err instanceof ControlError && process.env.VIGIL_ERROR_CODES === '1'
      ? `error: ${err.code}: ${message}`
      : `vigil: ${message}`;
  process.stderr.write(`${line.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(
    err instanceof UsageError ||
      (err instanceof ControlError && usageRefusal(err)) ||
      (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
      ? 2
      : 1,
  );
});
