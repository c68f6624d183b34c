/**
 * Run the real CLI on a pseudo-terminal (through python3's pty module), as a person at a
 * terminal would: stderr is a TTY, so progress bars are drawn. Once the output has matched
 * `waitFor` `count` times, the helper types Ctrl-C (byte 0x03 on the terminal, so the line
 * discipline sends SIGINT to the foreground process group) or sends a signal, optionally a
 * second Ctrl-C `againAfterMs` later, then reads to the end and reports the exit status.
 *
 *   const r = await runInPty(['make', '--local=repo', 'work'], { waitFor: /tile\s/, count: 2 });
 *   r.code === 130; r.output (everything the terminal got, escape sequences included)
 */
import { spawn } from 'node:child_process';
import { TOASTY } from './pipeline-fixture.js';

export interface PtyOptions {
  env?: Record<string, string>;
  /** What to wait for in the output before interrupting; without it, no interruption. */
  waitFor?: RegExp;
  /** How many matches of `waitFor` to wait for (default 1). */
  count?: number;
  /** `ctrl-c` types 0x03 on the terminal (default); a signal name is sent to the process. */
  action?: 'ctrl-c' | 'SIGINT' | 'SIGTERM';
  /** Type Ctrl-C again this long after the first interruption. */
  againAfterMs?: number;
  /** Kill the child (SIGKILL) if it has not ended this long after starting (default 120 s). */
  timeoutMs?: number;
}

export interface PtyRun {
  /** Exit status (128 + n when a signal ended it). */
  code: number;
  /** Everything written to the terminal, as text (escape sequences kept). */
  output: string;
  /** Whether the interruption was sent (the wait matched). */
  interrupted: boolean;
  /** Length of `output` when the interruption was sent. */
  sentAt: number;
}

const SCRIPT = String.raw`
import os, pty, sys, json, re, time, signal, select, base64, fcntl, termios, struct
cfg = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execve(cfg['cmd'][0], cfg['cmd'], cfg['env'])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 160, 0, 0))
pattern = re.compile(cfg['waitFor']) if cfg.get('waitFor') else None
out = b''
sent = False
sent_at = -1
sent_time = 0
again_done = False
start = time.time()
while True:
    if time.time() - start > cfg['timeoutMs'] / 1000:
        os.kill(pid, signal.SIGKILL)
    r, _, _ = select.select([fd], [], [], 0.02)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    if pattern and not sent and len(pattern.findall(out.decode('utf-8', 'replace'))) >= cfg['count']:
        sent = True
        sent_at = len(out)
        sent_time = time.time()
        if cfg['action'] == 'ctrl-c':
            os.write(fd, b'\x03')
        else:
            os.kill(pid, getattr(signal, cfg['action']))
    if sent and cfg.get('againAfterMs') is not None and not again_done and time.time() - sent_time > cfg['againAfterMs'] / 1000:
        again_done = True
        os.write(fd, b'\x03')
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
print(json.dumps({'code': code, 'output': base64.b64encode(out).decode(), 'interrupted': sent, 'sentAt': sent_at}))
`;

/** `toasty ...args` on a pseudo-terminal; see the file comment. */
export function runInPty(args: string[], opts: PtyOptions = {}): Promise<PtyRun> {
  const { CI: _ci, ...inherited } = process.env;
  const cfg = {
    cmd: [process.execPath, TOASTY, ...args],
    env: { ...inherited, TERM: 'xterm-256color', ...opts.env },
    waitFor: opts.waitFor?.source ?? null,
    count: opts.count ?? 1,
    action: opts.action ?? 'ctrl-c',
    againAfterMs: opts.againAfterMs ?? null,
    timeoutMs: opts.timeoutMs ?? 120_000,
  };
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', SCRIPT, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', () => {
      try {
        const r = JSON.parse(stdout) as { code: number; output: string; interrupted: boolean; sentAt: number };
        const output = Buffer.from(r.output, 'base64');
        resolve({ code: r.code, output: output.toString('utf8'), interrupted: r.interrupted, sentAt: output.subarray(0, r.sentAt).toString('utf8').length });
      } catch {
        reject(new Error(`pty helper failed: ${stderr || stdout}`));
      }
    });
  });
}

/** The output with terminal escape sequences and carriage returns taken out (for reading lines). */
export function plainText(output: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences
  return output.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '').replace(/\r\n/g, '\n');
}
