// Real kpd nodes for the interop tests: each on its own temporary data
// directory, on ephemeral loopback ports, driven with the real `kp`.
import { spawn, execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const here = new URL(".", import.meta.url).pathname
const bins = process.env.KP_BIN_DIR ?? resolve(here, "../../target/debug")

/** Polls `check` until it returns a value that is not undefined or false, or
 * throws after `ms` with `what`. */
export async function until(what, check, ms = 20000) {
  const deadline = Date.now() + ms
  let last
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

function setIn(file, section, key, value) {
  const lines = readFileSync(file, "utf8").split("\n")
  const start = lines.findIndex((l) => l.trim() === `[${section}]`)
  if (start < 0) throw new Error(`no [${section}] in ${file}`)
  const i = lines.findIndex((l, n) => n > start && l.split("=")[0].trim() === key)
  if (i < 0) throw new Error(`no ${key} in [${section}] of ${file}`)
  lines[i] = `${key} = ${value}`
  writeFileSync(file, lines.join("\n"))
}

export class Node {
  /** A node named `name`; `web` are more `[web]` settings (key → TOML value). */
  constructor(name, web = {}) {
    this.root = mkdtempSync(join(tmpdir(), "kp-js-"))
    this.dir = join(this.root, "node")
    execFileSync(join(bins, "kpd"), ["init", "--name", name, "--author", "Tester", "--data-dir", this.dir])
    const toml = join(this.dir, "kpd.toml")
    setIn(toml, "web", "listen", '"127.0.0.1:0"')
    setIn(toml, "peers", "listen", '"127.0.0.1:0"')
    for (const [key, value] of Object.entries(web)) setIn(toml, "web", key, value)
    this.clients = []
  }

  /** Sets `key` of `[section]` in kpd.toml to the TOML `value` (read at the
   * next start). */
  setting(section, key, value) {
    setIn(join(this.dir, "kpd.toml"), section, key, value)
  }

  /** Keeps the web listener on `port` (a node restarted where its pages
   * look for it). */
  setWebPort(port) {
    setIn(join(this.dir, "kpd.toml"), "web", "listen", `"127.0.0.1:${port}"`)
  }

  async start() {
    this.log = ""
    this.child = spawn(join(bins, "kpd"), ["run", "--data-dir", this.dir], {
      env: { ...process.env, KP_LOG: process.env.KP_TEST_LOG ?? "warn" },
      stdio: ["ignore", "ignore", "pipe"],
    })
    this.child.stderr.on("data", (d) => (this.log += d))
    this.exited = new Promise((r) => this.child.on("exit", (code, signal) => r({ code, signal })))
    const status = await until("kpd to answer", () => this.kp("status"))
    this.id = status.node_id
    this.peerAddress = status.peer_address
    this.url = status.web_url
    this.ws = this.url.replace(/^http/, "ws") + "/sync"
    return this
  }

  /** Runs `kp ARGS --json` on this node; its parsed output. Throws with kp's
   * message on failure. */
  kp(...args) {
    const out = execFileSync(join(bins, "kp"), [...args, "--json"], {
      env: { ...process.env, KP_DATA_DIR: this.dir, KP_AUTHOR: "Tester" },
      stdio: ["ignore", "pipe", "pipe"],
    })
    return JSON.parse(out.toString())
  }

  /** An account on this node, logged in as a program does: its session. */
  async login(name) {
    const { token } = this.kp("user", "add", name)
    const r = await fetch(`${this.url}/api/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    })
    if (!r.ok) throw new Error(`login failed: ${r.status} ${await r.text()}`)
    // The cookie a browser would keep: its name is the node's own.
    this.cookie = r.headers.get("set-cookie").split(";")[0].split("=")[0]
    return (await r.json()).session
  }

  /** A stock automerge-repo client connected to this node with `session`. */
  client(session) {
    const repo = new Repo({
      network: [new WebSocketClientAdapter(`${this.ws}?session=${encodeURIComponent(session)}`)],
    })
    this.clients.push(repo)
    return repo
  }

  /** Pins `other` here and dials it; waits until they are connected. */
  async link(other) {
    other.kp("peer", "add", this.id)
    this.kp("peer", "add", other.id, other.peerAddress)
    await until("the partners to connect", () =>
      this.kp("peer", "list").peers.some((p) => p.node_id === other.id && p.connected),
    )
  }

  async stop() {
    for (const c of this.clients) await c.shutdown().catch(() => {})
    this.clients = []
    if (this.child && this.child.exitCode === null) {
      this.child.kill("SIGTERM")
      await this.exited
    }
  }

  async cleanup() {
    await this.stop()
    rmSync(this.root, { recursive: true, force: true })
  }
}

/** A space and a draft in it, made with `kp` on `node`. */
export function draft(node, body, title = "Sending money home", author = "Tester") {
  node.kp("space", "create", "Remittances WG", "--theme", "7")
  const file = join(node.root, "draft.md")
  writeFileSync(file, body)
  return node.kp("draft", "new", "--space", "Remittances WG", "--title", title, "--file", file, "--author", author)
}
