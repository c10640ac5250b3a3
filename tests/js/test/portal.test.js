// The public portal in a real browser: its pages read and link without
// JavaScript, a dataset downloads as CSV, the search works as a plain form,
// and every page passes an accessibility check.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Node, draft, until } from "../kpd.js"
import { launch, shot, axeViolations } from "../browser.js"

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

const plugins = join(process.env.KP_BIN_DIR ?? new URL("../../../target/debug", import.meta.url).pathname, "../wasm32-wasip2/plugin")

const BRIEF = `# Sending money home

Remittances to developing countries reached USD 372 bn in 2011.[^1]

| country | USD bn |
|---|---|
| India | 58 |
| China | 57 |

- Costs fell.
- Flows grew.

[^1]: Migration and Development Brief 17.
`

/** A node whose portal shows a published brief and an open dataset with an
 * analysis. */
async function portalNode() {
  const a = new Node("Institute A")
  a.setting("portal", "listen", '"127.0.0.1:0"')
  a.setting("portal", "spaces", '["Remittances WG"]')
  await a.start()
  const d = draft(a, BRIEF, "Sending money home", "ana")
  const report = join(a.root, "report.md")
  writeFileSync(report, "Clear.")
  a.kp("review", "submit-draft", d.id, "--author", "ana")
  a.kp("review", "assign", d.id, "--referee", `bo@${a.id}`, "--author", "carla")
  a.kp("review", "report", d.id, "--recommendation", "accept", "--file", report, "--author", "bo")
  a.kp("review", "decide", d.id, "accept", "--author", "carla")
  a.kp("publish", d.id, "--author", "carla")
  const csv = join(a.root, "data.csv")
  writeFileSync(csv, "country,year,remittances_usd_bn\nIndia,2011,58\nChina,2011,57\nMexico,2011,24\n")
  const ds = a.kp("dataset", "import", "--space", "Remittances WG", "--title", "Top recipients 2011", "--source", "World Bank", "--licence", "CC-BY-4.0", csv)
  a.kp("dataset", "open", ds.id)
  a.kp("plugin", "install", join(plugins, "remittance_indicators.wasm"))
  a.kp("analyze", ds.id, "--plugin", "remittance-indicators")
  return { a, d, ds, url: a.kp("status").portal_url }
}

test("the portal reads, links, searches and downloads without JavaScript", async () => {
  const { a, d, ds, url } = await portalNode()
  try {
    const context = await browser.newContext({ javaScriptEnabled: false, acceptDownloads: true })
    const page = await context.newPage()
    await page.goto(url)
    await page.getByRole("heading", { name: /Publications and data/ }).first().waitFor()
    await shot(page, "portal-index")
    await page.getByRole("link", { name: "Sending money home" }).click()
    await page.waitForURL(`**/p/${d.id}/published-1/`)
    const text = await page.locator("body").innerText()
    assert.match(text, /reviewed by 1 referee/)
    assert.equal(await page.locator("table td").first().innerText(), "India")
    assert.equal(await page.locator("li").filter({ hasText: "Costs fell." }).count(), 1)
    assert.equal(await page.getByRole("link", { name: "This brief as a PDF" }).count(), 1)
    const pdf = await fetch(`${url}/p/${d.id}/published-1/brief.pdf`)
    assert.equal(pdf.headers.get("content-type"), "application/pdf")
    assert.equal(new TextDecoder().decode((await pdf.arrayBuffer()).slice(0, 5)), "%PDF-")
    await shot(page, "portal-brief")
    await page.goBack()
    await page.getByRole("link", { name: "Top recipients 2011" }).click()
    await page.waitForURL(`**/d/${ds.id}/`)
    assert.match(await page.locator("main").innerText(), /CC-BY-4\.0/)
    assert.equal(await page.locator(".figure svg").count() > 0, true, "a figure of the analysis")
    await shot(page, "portal-dataset")
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download the data (CSV)" }).click()])
    const file = await download.path()
    const { readFileSync } = await import("node:fs")
    assert.match(readFileSync(file, "utf8"), /^country,year,remittances_usd_bn\nIndia,2011,58\n/)
    await page.getByRole("link", { name: "Publications and data" }).click()
    await page.getByLabel("Search titles, authors and text").fill("nothing like this")
    await page.getByRole("button", { name: "Search" }).click()
    await page.getByText("No publication matches.").waitFor()
    await page.getByLabel("Search titles, authors and text").fill("remittances")
    await page.getByRole("button", { name: "Search" }).click()
    await page.getByRole("link", { name: "Sending money home" }).waitFor()
    // The visits were counted, and no cookie was set.
    assert.deepEqual(await context.cookies(), [])
    await until("the counts stored", () => {
      const ind = a.kp("report", "indicators").indicators
      return ind.find((i) => i.id === "1.2").value >= 2 && ind.find((i) => i.id === "1.3").value >= 1
    }, 30000)
    await context.close()
  } finally {
    await a.cleanup()
  }
})

test("every page of the portal passes an accessibility check (axe-core)", async () => {
  const { a, d, ds, url } = await portalNode()
  try {
    const context = await browser.newContext({ bypassCSP: true })
    const page = await context.newPage()
    const found = {}
    for (const [name, path] of Object.entries({ index: "", brief: `p/${d.id}/published-1/`, dataset: `d/${ds.id}/`, missing: "no/such/page" })) {
      await page.goto(`${url}/${path}`)
      const v = await axeViolations(page)
      if (v.length) found[name] = v
    }
    assert.deepEqual(found, {})
    await context.close()
  } finally {
    await a.cleanup()
  }
})
