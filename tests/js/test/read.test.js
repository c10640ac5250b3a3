// A client finds a draft by its automerge URL and reads what `kp` shows; the
// node refuses what it must refuse and stays up.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import WebSocket from "ws"
import { Encoder, decode } from "cbor-x"
import { Node, draft, until } from "../kpd.js"

// As automerge-repo encodes its messages.
const cbor = new Encoder({ tagUint8Array: false, useRecords: false })
const encode = (m) => cbor.encode(m)

let node, made, session

before(async () => {
  node = await new Node("Institute A", { max_message_mib: "1" }).start()
  made = draft(node, "# Sending money home\n\nRemittances to low-income countries grew.\n")
  session = await node.login("Amina Diallo")
})
after(async () => node?.cleanup())

test("a client finds a draft by URL and reads the text kp shows", async () => {
  const repo = node.client(session)
  const handle = await repo.find(`automerge:${made.id}`)
  const doc = handle.doc()
  const shown = node.kp("draft", "show", made.id)
  assert.equal(doc.body, shown.body)
  // Scalar strings written by the node read as automerge's ImmutableString.
  assert.equal(doc.title.toString(), "Sending money home")
  assert.equal(doc.kind.toString(), "draft")
})

test("the workspace's home lists the node's spaces and drafts for the person", async () => {
  const r = await fetch(`${node.url}/api/home`, { headers: { authorization: `Bearer ${session}` } })
  assert.equal(r.status, 200)
  const home = await r.json()
  assert.equal(home.person, "Amina Diallo")
  assert.ok(home.spaces.some((s) => s.name === "Remittances WG"))
  assert.ok(home.drafts.some((d) => d.id === made.id))
  assert.ok(home.inbox)
  const anon = await fetch(`${node.url}/api/home`)
  assert.equal(anon.status, 401)
  // Every answer carries the security policy: no inline script, no framing.
  for (const res of [r, anon, await fetch(`${node.url}/`)]) {
    const csp = res.headers.get("content-security-policy")
    assert.match(csp, /script-src 'self'/)
    assert.doesNotMatch(csp, /unsafe-inline/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.equal(res.headers.get("x-content-type-options"), "nosniff")
  }
})

test("a document the node does not hold is unavailable", async () => {
  const repo = node.client(session)
  // A well-formed id of a document nobody made, and one made by another repo.
  const other = new (await import("@automerge/automerge-repo")).Repo({ network: [] })
  const foreign = other.create({ secret: "not here" })
  for (const url of ["automerge:2j9knpCseyhnK8izDmLpGP5WMdZQ", foreign.url]) {
    await assert.rejects(repo.find(url), /unavailable/)
  }
  await other.shutdown()
})

/** A raw WebSocket to the node: its status on upgrade, or the open socket. */
function raw(url, headers = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    ws.on("unexpected-response", (_req, res) => resolve({ status: res.statusCode }))
    ws.on("open", () => resolve({ ws }))
    ws.on("error", (e) => resolve({ error: e }))
  })
}

function next(ws) {
  return new Promise((resolve, reject) => {
    ws.once("message", (m) => resolve(decode(m)))
    ws.once("close", () => reject(new Error("closed")))
  })
}

test("no login, a wrong session, a foreign Origin or Host are refused", async () => {
  assert.equal((await raw(node.ws)).status, 401)
  assert.equal((await raw(`${node.ws}?session=kps_wrong`)).status, 401)
  const cookie = { cookie: `${node.cookie}=${session}` }
  assert.match(node.cookie, /^kp_session_/)
  assert.equal((await raw(node.ws, { ...cookie, origin: "https://evil.example" })).status, 403)
  assert.equal((await raw(node.ws, { ...cookie, host: "evil.example" })).status, 421)
  // A login that is not JSON, or a token that is no login.
  for (const body of ["garbage", JSON.stringify({ token: "kpl_nothing" })]) {
    const r = await fetch(`${node.url}/api/login`, { method: "POST", headers: { "content-type": "application/json" }, body })
    assert.ok(r.status === 400 || r.status === 401, `${r.status}`)
    assert.ok((await r.json()).error)
  }
  // The node's own origin with the cookie is let in.
  const ok = await raw(node.ws, { ...cookie, origin: node.url })
  assert.ok(ok.ws)
  ok.ws.close()
})

test("garbage, text and a wrong version are refused with the node unharmed", async () => {
  const url = `${node.ws}?session=${session}`
  for (const [bytes, says] of [
    [Buffer.from([0xff, 0x00, 0x13]), "not an automerge-repo message"],
    [encode({ type: "sync", senderId: "x", documentId: made.id, data: new Uint8Array([1]) }), "join"],
    [encode({ type: "join", senderId: "x", supportedProtocolVersions: ["9"] }), "version"],
    ["hello", "binary"],
  ]) {
    const { ws } = await raw(url)
    ws.send(bytes)
    const m = await next(ws)
    assert.equal(m.type, "error")
    assert.match(m.message, new RegExp(says))
    await until("the node to close the socket", () => ws.readyState === WebSocket.CLOSED)
  }
  // Still serving.
  const repo = node.client(session)
  const handle = await repo.find(`automerge:${made.id}`)
  assert.equal(handle.doc().title.toString(), "Sending money home")
})

test("a message over the node's limit closes that connection only", async () => {
  const { ws } = await raw(`${node.ws}?session=${session}`)
  ws.send(encode({ type: "join", senderId: "big", supportedProtocolVersions: ["1"], peerMetadata: {} }))
  assert.equal((await next(ws)).type, "peer")
  const closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)))
  const said = next(ws)
  ws.send(encode({ type: "sync", senderId: "big", targetId: "x", documentId: made.id, data: new Uint8Array(1536 << 10) }))
  const m = await said
  assert.equal(m.type, "error")
  assert.match(m.message, /over this node's limit of 1 MiB/)
  assert.equal(await closed, 1009) // "message too big"
  const handle = await node.client(session).find(`automerge:${made.id}`)
  assert.equal(handle.doc().title.toString(), "Sending money home")
})

test("a removed account's connections end at once", async () => {
  const s = await node.login("Bo Leaving")
  const { ws } = await raw(`${node.ws}?session=${s}`)
  ws.send(encode({ type: "join", senderId: "bo", supportedProtocolVersions: ["1"], peerMetadata: {} }))
  assert.equal((await next(ws)).type, "peer")
  const got = next(ws)
  node.kp("user", "remove", "Bo Leaving")
  const m = await got
  assert.equal(m.type, "error")
  assert.match(m.message, /session ended/)
  assert.equal((await raw(`${node.ws}?session=${s}`)).status, 401)
})
