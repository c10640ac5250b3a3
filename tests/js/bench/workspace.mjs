// Benchmark: the web workspace in Debian's headless Chromium, against real
// release kpd nodes A and B (partners).
//
//   keystroke → visible: a key pressed in ana's editor (at A) until the
//     character is in ben's editor (at A) and in bo's (at B); against the
//     floor measured in the same run: an ephemeral message from ana's page
//     to ben's (the same browsers, sockets and relay through A, with no
//     storage and no sync; presence does not cross to partners, so the
//     partner row has the same floor).
//   time to an editable page: a fresh browser opening a 1 MB draft until its
//     last line is in an editable editor; against a draft of one line, and
//     again with the draft in the browser's storage (a second visit).
//   download: the bytes the page transfers on a first visit.
//
// Run: `cargo build --release --bins && cargo bench -p kp-tests --bench workspace`
// (after `npm ci` in tests/js). KP_BENCH_KEYS=N sets the keystrokes (200).
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Node, until } from "../kpd.js"
import { launch, personAt } from "../browser.js"

const KEYS = Number(process.env.KP_BENCH_KEYS ?? 200)
const WARMUP = 20

function pct(v, p) {
  const s = [...v].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const ms = (x) => `${x.toFixed(1)} ms`

/** Installs, in a page, a clock of when its editor's text reaches a length
 * and when a presence mark arrives. */
async function watch(page) {
  await page.evaluate(() => {
    const el = document.querySelector(".cm-content")
    const len = () => {
      let n = 0
      for (const l of el.querySelectorAll(".cm-line")) {
        const c = l.cloneNode(true)
        for (const w of c.querySelectorAll(".caret")) w.remove()
        n += c.textContent.length
      }
      return n
    }
    window.kpBench = { want: -1, seen: 0, len }
    new MutationObserver(() => {
      const b = window.kpBench
      if (b.want >= 0 && !b.seen && len() >= b.want) b.seen = performance.timeOrigin + performance.now()
    }).observe(el, { subtree: true, childList: true, characterData: true })
  })
}

async function keystrokes(ana, others, n) {
  await ana.evaluate(() => {
    document.addEventListener("keydown", () => (window.kpKey = performance.timeOrigin + performance.now()), true)
  })
  await ana.locator(".cm-content").click()
  await ana.keyboard.press("Control+End")
  const out = others.map(() => [])
  for (let i = 0; i < n + WARMUP; i++) {
    for (const p of others) {
      await p.evaluate(() => {
        window.kpBench.want = window.kpBench.len() + 1
        window.kpBench.seen = 0
      })
    }
    await ana.keyboard.press("a")
    const t0 = await ana.evaluate(() => window.kpKey)
    for (const [j, p] of others.entries()) {
      const t1 = await (await p.waitForFunction(() => window.kpBench.seen || false, null, { polling: "raf", timeout: 30000 })).jsonValue()
      if (i >= WARMUP) out[j].push(t1 - t0)
    }
  }
  return out
}

/** The floor: a presence message from ana's page to the others' pages. */
async function relays(ana, others, doc, n) {
  for (const p of others) {
    await p.evaluate(() => {
      window.kpPing = 0
      window.kpRepo = null
    })
  }
  // Each page listens on its own handle of the document.
  const listen = (id) => {
    const repo = window.kp.repo
    return repo.find(`automerge:${id}`).then((h) => {
      h.on("ephemeral-message", ({ message }) => {
        if (message && "kpBench" in message) window.kpPing = performance.timeOrigin + performance.now()
      })
      window.kpHandle = h
    })
  }
  for (const p of [ana, ...others]) await p.evaluate(listen, doc)
  const out = others.map(() => [])
  for (let i = 0; i < n + WARMUP; i++) {
    for (const p of others) await p.evaluate(() => (window.kpPing = 0))
    const t0 = await ana.evaluate((i) => {
      const t = performance.timeOrigin + performance.now()
      window.kpHandle.broadcast({ kpBench: i })
      return t
    }, i)
    for (const [j, p] of others.entries()) {
      const t1 = await (await p.waitForFunction(() => window.kpPing || false, null, { polling: "raf", timeout: 30000 })).jsonValue()
      if (i >= WARMUP) out[j].push(t1 - t0)
    }
  }
  return out
}

async function editable(browser, node, id, firstLine, length, name, twice = false) {
  // A fresh browser: everything the page needs comes from the node.
  const { link } = node.kp("user", "add", name)
  const context = await browser.newContext()
  const page = await context.newPage()
  let bytes = 0
  page.on("requestfinished", async (r) => {
    const s = await r.sizes().catch(() => null)
    if (s) bytes += s.responseBodySize + s.responseHeadersSize
  })
  const open = async (url) => {
    const t0 = Date.now()
    await page.goto(url)
    // The editor draws only the lines in view: it is ready when it is
    // editable, shows the first line, and the document it was made from is
    // whole.
    await page.waitForFunction(
      ([id, first, length]) => {
        const el = document.querySelector(".cm-content")
        const h = window.kp && window.kp.repo.handles[id]
        const body = h && h.isReady() ? h.doc().body : ""
        return el && el.getAttribute("contenteditable") === "true" && el.textContent.includes(first) && body.length >= length
      },
      [id, firstLine, length],
      { timeout: 120000, polling: 20 },
    )
    return Date.now() - t0
  }
  // The login link, then the draft: a first visit.
  await page.goto(link)
  await page.getByTestId("me").waitFor()
  const first = await open(`${node.url}/#/draft/${id}`)
  const firstBytes = bytes
  let second = null
  if (twice) {
    await page.goto("about:blank")
    second = await open(`${node.url}/#/draft/${id}`)
  }
  await context.close()
  return { first, second, bytes: firstBytes }
}

const a = await new Node("Institute A").start()
const b = await new Node("Institute B").start()
const browser = await launch()
try {
  a.kp("space", "create", "Bench WG", "--theme", "7")
  a.kp("space", "add-member", "Bench WG", b.id, "--role", "editor", "--institution", "Institute B")
  for (const [who, node] of [["ana", a], ["ben", a], ["bo", b], ["cy", a], ["di", a]]) {
    a.kp("space", "add-person", "Bench WG", who, "--role", "editor", ...(node === b ? ["--node", b.id] : []))
  }
  await a.link(b)
  const small = join(a.root, "small.md")
  writeFileSync(small, "# Sending money home\n\nRemittances grew.\n")
  const d = a.kp("draft", "new", "--space", "Bench WG", "--title", "Bench", "--file", small)
  // A 1 MB draft: 10,000 lines of prose.
  const big = join(a.root, "big.md")
  const lines = []
  for (let i = 0; lines.join("\n").length < 1_000_000; i++) {
    lines.push(`Line ${i}: remittances to low- and middle-income countries grew again, by a tenth, the brief says.`)
  }
  lines.push("The last line of the big draft.")
  writeFileSync(big, lines.join("\n") + "\n")
  const bigDraft = a.kp("draft", "new", "--space", "Bench WG", "--title", "Big", "--file", big)
  await until("the drafts at B", () => b.kp("draft", "show", d.id) && b.kp("draft", "show", bigDraft.id), 60000)

  const ana = await personAt(browser, a, "ana")
  const ben = await personAt(browser, a, "ben")
  const bo = await personAt(browser, b, "bo")
  for (const [p, n] of [[ana, a], [ben, a], [bo, b]]) {
    await p.goto(`${n.url}/#/draft/${d.id}`)
    await p.locator(".cm-content").waitFor()
  }
  await until("everyone connected", async () => {
    for (const p of [ana, ben, bo]) if ((await p.getByTestId("connection").innerText()) !== "connected") return false
    return true
  })
  for (const p of [ben, bo]) await watch(p)
  const [near, far] = await keystrokes(ana, [ben, bo], KEYS)
  // Presence stays on its node (partners never see it): the floor of both
  // is the relay through A.
  const [nearFloor] = await relays(ana, [ben], d.id, KEYS)

  const tiny = await editable(browser, a, d.id, "Sending money home", 30, "cy")
  const large = await editable(browser, a, bigDraft.id, "Line 0:", 1_000_000, "di", true)

  const row = (what, v, floor) =>
    console.log(
      `${what.padEnd(44)} p50 ${ms(pct(v, 50))} p99 ${ms(pct(v, 99))}   floor p50 ${ms(pct(floor, 50))} p99 ${ms(pct(floor, 99))}   ${(pct(v, 50) / pct(floor, 50)).toFixed(2)}× / ${(pct(v, 99) / pct(floor, 99)).toFixed(2)}×`,
    )
  console.log(`web workspace, ${KEYS} keystrokes after ${WARMUP} warm-up, headless Chromium, release kpd`)
  row("keystroke → visible, one node (ana → ben)", near, nearFloor)
  row("keystroke → visible, partner node (ana → bo)", far, nearFloor)
  console.log(
    `${"1 MB draft → editable page, first visit".padEnd(44)} ${large.first} ms   one-line draft ${tiny.first} ms   ${(large.first / tiny.first).toFixed(2)}×`,
  )
  console.log(`${"1 MB draft → editable page, second visit".padEnd(44)} ${large.second} ms (the files from the browser's cache, the draft from its storage)`)
  console.log(
    `${"download, first visit (login link, then a draft)".padEnd(44)} ${(tiny.bytes / 1024).toFixed(0)} KiB with a one-line draft, ${(large.bytes / 1024).toFixed(0)} KiB with the 1 MB draft (its text comes over the WebSocket, not counted)`,
  )
} finally {
  await browser.close()
  await a.cleanup()
  await b.cleanup()
}
