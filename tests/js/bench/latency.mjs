// Edit-to-visible latency through one automerge-repo server (kpd, or samod
// for comparison): client ONE edits, and the time until client TWO (same
// server) and client FAR (on the partner server) see the edit is measured.
// Usage: node bench/latency.mjs CONFIG_JSON
//   {"name", "near": ws-url, "far": ws-url, "doc": "automerge:…" | null,
//    "body": text for a document made here when doc is null, "edits": N,
//    "warmup": N}
// Prints one JSON line: {"name", "near": [ms…], "far": [ms…], "nearWire": [ms…],
// "farWire": [ms…]}: from the edit, and from the moment client ONE's sync
// message left it (the stock client holds a change back up to 100 ms before
// it sends it, the same for every server).
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { next as A } from "@automerge/automerge"

const cfg = JSON.parse(process.argv[2])
/** The stock adapter, noting when it sends a sync message. */
class Timed extends WebSocketClientAdapter {
  send(message) {
    if (message.type === "sync" && this.onSync) this.onSync()
    super.send(message)
  }
}
const timed = new Timed(cfg.near)
const [one, two, far] = [
  new Repo({ network: [timed] }),
  new Repo({ network: [new WebSocketClientAdapter(cfg.near)] }),
  new Repo({ network: [new WebSocketClientAdapter(cfg.far)] }),
]

let url = cfg.doc
if (!url) {
  const made = one.create({ title: "bench", body: cfg.body })
  url = made.url
  await one.find(url)
}

/** Finds `url` on `r`, retrying while the server has not got it yet. */
async function find(r) {
  for (let i = 0; ; i++) {
    try {
      return await r.find(url)
    } catch (e) {
      if (i > 100) throw e
      await new Promise((res) => setTimeout(res, 100))
    }
  }
}
const [h1, h2, h3] = [await find(one), await find(two), await find(far)]

/** Resolves with the time at which `h`'s body first contains `mark`. */
function seen(h, mark) {
  return new Promise((resolve) => {
    const check = () => {
      if (h.doc().body.includes(mark)) {
        h.off("change", check)
        resolve(performance.now())
      }
    }
    h.on("change", check)
    check()
  })
}

const near = []
const farT = []
const nearWire = []
const farWire = []
for (let i = 0; i < cfg.warmup + cfg.edits; i++) {
  const mark = `<${cfg.name}-${i}>`
  const atTwo = seen(h2, mark)
  const atFar = seen(h3, mark)
  let sent = null
  timed.onSync = () => {
    if (sent === null) sent = performance.now()
  }
  const t0 = performance.now()
  h1.change((d) => A.splice(d, ["body"], d.body.length, 0, ` ${mark}`))
  const [t2, t3] = await Promise.all([atTwo, atFar])
  timed.onSync = null
  if (i >= cfg.warmup) {
    near.push(t2 - t0)
    farT.push(t3 - t0)
    nearWire.push(t2 - (sent ?? t0))
    farWire.push(t3 - (sent ?? t0))
  }
}
console.log(JSON.stringify({ name: cfg.name, near, far: farT, nearWire, farWire }))
for (const r of [one, two, far]) await r.shutdown()
process.exit(0)
