import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A private test network: a bridge on the host (HOST_ADDRESS.1 of a /24 in 10.213.0.0/16) and, per host, a
 * network namespace joined to it by a veth pair. Processes started with `launcher(host)` run inside their
 * namespace and reach the servers at `hostAddress` only; `cutOff(host)` drops every packet in and out of the
 * namespace (iptables DROP in it: real packet loss, no FIN or RST reaches anyone), `reconnect(host)` lifts it.
 *
 * Every name starts with `rwc-<pid in base 36>-` (namespaces) or `rwb`/`rwh` and `<pid>_` (links), so that
 * `removeLeftovers()` can delete what a crashed earlier run (a process no longer alive) left, and nothing of a
 * run still going on. Needs root, iproute2 and iptables. Traffic goes only to the lab's own addresses.
 */
export class NetLab {
  private static counter = 0;
  readonly hostAddress: string;
  readonly network: string;
  private readonly hosts = new Map<string, { ns: string; address: string }>();
  private destroyed = false;

  private constructor(
    private readonly tag: string,
    private readonly subnet: number,
  ) {
    this.hostAddress = `10.213.${subnet}.1`;
    this.network = `10.213.${subnet}.0/24`;
  }

  /** Creates the bridge; removes an earlier crashed run's leftovers first. */
  static async create(): Promise<NetLab> {
    await NetLab.removeLeftovers();
    const tag = `${process.pid.toString(36)}_${(NetLab.counter++).toString(36)}`;
    const used = (await run('ip', ['-4', '-o', 'addr', 'show'])).stdout;
    let subnet = (process.pid * 7 + NetLab.counter * 13) % 250;
    while (used.includes(` 10.213.${subnet}.`)) subnet = (subnet + 1) % 250;
    const lab = new NetLab(tag, subnet);
    try {
      await ip('link', 'add', lab.bridge, 'type', 'bridge');
      await ip('addr', 'add', `${lab.hostAddress}/24`, 'dev', lab.bridge);
      await ip('link', 'set', lab.bridge, 'up');
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private get bridge(): string {
    return `rwb${this.tag}`;
  }

  /** A namespace for host `id` (one character or two), joined to the bridge; returns its address. */
  async addHost(id: string): Promise<string> {
    const ns = `rwc-${this.tag}-${id}`;
    const address = `10.213.${this.subnet}.${2 + this.hosts.size}`;
    const outside = `rwh${this.tag}${id}`;
    const inside = `rwn${this.tag}${id}`;
    this.hosts.set(id, { ns, address });
    await ip('netns', 'add', ns);
    await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
    await ip('link', 'set', inside, 'netns', ns);
    await ip('link', 'set', outside, 'master', this.bridge, 'up');
    await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', inside);
    await ip('-n', ns, 'link', 'set', inside, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    return address;
  }

  /** The command prefix that runs a process inside host `id`'s namespace (it execs: the PID stays). */
  launcher(id: string): string[] {
    return ['ip', 'netns', 'exec', this.host(id).ns];
  }

  /** Drops every packet to and from host `id`, from now on. */
  async cutOff(id: string): Promise<void> {
    const { ns } = this.host(id);
    await run('ip', ['netns', 'exec', ns, 'iptables', '-I', 'INPUT', '-j', 'DROP']);
    await run('ip', ['netns', 'exec', ns, 'iptables', '-I', 'OUTPUT', '-j', 'DROP']);
  }

  /** Lets host `id`'s packets through again. */
  async reconnect(id: string): Promise<void> {
    await run('ip', ['netns', 'exec', this.host(id).ns, 'iptables', '-F']);
  }

  /** Deletes every namespace (with its veth pair and iptables rules) and the bridge. Safe twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const { ns } of this.hosts.values()) await ip('netns', 'delete', ns).catch(() => undefined);
    await ip('link', 'delete', this.bridge).catch(() => undefined);
  }

  private host(id: string): { ns: string; address: string } {
    const host = this.hosts.get(id);
    if (!host) throw new Error(`no host ${id} in the test network`);
    return host;
  }

  /** Removes namespaces and links of earlier runs whose process is gone (by the PID in their names). */
  static async removeLeftovers(): Promise<void> {
    const gone = (pid36: string) => {
      try {
        process.kill(Number.parseInt(pid36, 36), 0);
        return false;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ESRCH';
      }
    };
    const namespaces = (await run('ip', ['netns', 'list'])).stdout;
    for (const match of namespaces.matchAll(/^rwc-([0-9a-z]+)_[0-9a-z]+-\S+/gm))
      if (gone(match[1]!)) await ip('netns', 'delete', match[0]).catch(() => undefined);
    const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
    for (const match of links.matchAll(/^\d+: (rw[bh]([0-9a-z]+)_[0-9a-z]+)[@:]/gm))
      if (gone(match[2]!)) await ip('link', 'delete', match[1]!).catch(() => undefined);
  }
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}
