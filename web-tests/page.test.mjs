// The daemon's web page in headless Chromium: enter the token, add a torrent by
// uploading its file, watch its progress bar reach 100% from a local seeder, pause
// and resume it, see the rate graph draw the download, open its detail and set
// its labels and limits there, add a root and make it the default, file it
// under a category whose save path is on that root (its data moves), place it by
// hand and take it out of the category (its data stays), rename its file, move
// it to another root from the detail (its data moves), change a
// setting, see log lines arrive, and see a torrent named like HTML shown as text. Screenshots of each step go to target/web-test/.
//
// Run: node web-tests/page.test.mjs (SEEDRING_BIN: the seedring binary).
// Everything stays on loopback; Chromium runs with networking to the rest
// of the world off.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const bin = process.env.SEEDRING_BIN || join(root, "target/debug/seedring");
const shots = join(root, "target/web-test");
mkdirSync(shots, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), "seedring-web-"));
const children = [];

// The daemon's last log lines, shown when the test fails.
const daemonLog = [];

function fail(msg) {
  console.error("web test FAILED: " + msg);
  if (daemonLog.length) console.error("the daemon's last log lines:\n" + daemonLog.join(""));
  cleanup();
  process.exit(1);
}

function cleanup() {
  for (const c of children) { try { c.kill("SIGKILL"); } catch {} }
  rmSync(dir, { recursive: true, force: true });
}

async function until(what, pred, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await pred()) return; } catch {}
    if (Date.now() > end) fail("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Data and its torrent, made by this build.
function makeTorrent(name, size) {
  const src = join(dir, "src");
  mkdirSync(src, { recursive: true });
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 2654435761) >>> 24;
  writeFileSync(join(src, name), data);
  const t = join(dir, name.replace(/[^a-z0-9]/gi, "_") + ".torrent");
  execFileSync(bin, ["create", join(src, name), "-o", t]);
  return t;
}

const torrent = makeTorrent("web-movie.bin", 4 << 20);
const evil = makeTorrent("<img src=x onerror=alert(1)>", 1000);

// A throttled seeder (1 MiB/s) of the data, on loopback.
const seeder = spawn(bin, ["download", torrent, "-o", join(dir, "src"), "--seed",
  "--listen-port", "0", "--listen-address", "127.0.0.1", "--upload-limit", "1048576"]);
children.push(seeder);
let seedPort = null;
let seeding = false;
seeder.stderr.on("data", (b) => {
  const s = b.toString();
  const m = s.match(/listening on port (\d+)/);
  if (m) seedPort = Number(m[1]);
  if (s.includes("seeding until")) seeding = true;
});
await until("the seeder", () => seedPort && seeding, 30000);

// The daemon.
writeFileSync(join(dir, "seedring.toml"), `data_dir = "${dir}/data"
[peers]
listen = "127.0.0.1:0"
[dht]
listen = "127.0.0.1:0"
listen6 = ""
bootstrap = []
[api]
listen = "127.0.0.1:0"
[[roots]]
token = "default"
path = "${dir}/downloads"
default = true
`);
const daemon = spawn(bin, ["daemon", "--config", join(dir, "seedring.toml")], { stdio: ["ignore", "ignore", "pipe"] });
children.push(daemon);
daemon.stderr.on("data", (b) => {
  daemonLog.push(b.toString());
  if (daemonLog.length > 60) daemonLog.shift();
});
const addrFile = join(dir, "data/admin.addr");
await until("the daemon", () => existsSync(addrFile), 30000);
const api = readFileSync(addrFile, "utf8").match(/api=(\S+)/)[1];
const token = readFileSync(join(dir, "data/admin.token"), "utf8").trim();
const base = `http://${api}`;

// A fresh profile each run (the user-data-dir of the brief's flags).
const browser = await chromium.launchPersistentContext(join(dir, "chrome"), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
  viewport: { width: 1300, height: 900 },
});
const page = browser.pages()[0] || (await browser.newPage());
const dialogs = [];
// A prompt is answered with `promptAnswer` when one is set.
let promptAnswer = null;
page.on("dialog", async (d) => {
  dialogs.push(d.message());
  await (d.type() === "prompt" && promptAnswer !== null ? d.accept(promptAnswer) : d.accept());
});
let step = 0;
const shot = async (name) => page.screenshot({ path: join(shots, `${String(++step).padStart(2, "0")}-${name}.png`) });

try {
  await page.goto(base + "/");
  await page.waitForSelector("#token");
  await shot("sign-in");
  await page.fill("#token", "wrong");
  await page.click("#login-form button");
  await until("the refusal", async () => (await page.textContent("#login-error")).includes("refused"), 10000);
  await page.fill("#token", token);
  await page.click("#login-form button");
  await page.waitForSelector("#app:not([hidden])");
  await shot("signed-in");

  // Add the torrent by uploading its file.
  await page.setInputFiles("#add-file", torrent);
  await page.fill("#add-labels", "films, web");
  await page.click("#add-button");
  await until("the added torrent in the table", async () => (await page.$$("#torrents tbody tr")).length === 1, 20000);
  const id = await page.getAttribute("#torrents tbody tr", "data-id");
  const labels = await page.textContent("#torrents tbody tr td.labels");
  if (labels !== "films, web") fail("labels column shows " + JSON.stringify(labels));
  await shot("added");
  const apiGet = async (path) => {
    const res = await fetch(`${base}/api/v1${path}`, { headers: { Authorization: "Bearer " + token } });
    if (!res.ok) fail(`GET ${path}: ${res.status}`);
    return res.json();
  };
  // The torrent lists no tracker: tell the daemon where the seeder is.
  const r = await fetch(`${base}/api/v1/torrents/${id}/peers`, {
    method: "POST",
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify({ peers: [`127.0.0.1:${seedPort}`] }),
  });
  if (r.status !== 204) fail("adding the seeder as a peer: " + r.status);
  const progress = async () => Number(await page.getAttribute("#torrents tbody tr .bar", "data-progress"));
  await until("some progress", async () => (await progress()) > 0, 30000);
  await shot("downloading");
  await until("the progress bar at 100%", async () => (await progress()) === 1, 60000);
  const width = await page.$eval("#torrents tbody tr .bar > div", (e) => e.style.width);
  if (parseFloat(width) !== 100) fail("the bar is " + width);
  await shot("complete");

  // The rate graph drew the download: green above its baseline.
  const drawn = await page.$eval("#graph", (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height - 8).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 1] > d[i] + 40 && d[i + 1] > d[i + 2] + 20) n++;
    return n;
  });
  if (drawn < 5) fail("the rate graph shows no download (" + drawn + " green pixels)");

  // Pause and resume.
  await page.click("#torrents tbody tr button.pause");
  await until("paused", async () => (await page.getAttribute("#torrents tbody tr", "data-state")) === "paused", 10000);
  await shot("paused");
  await page.click("#torrents tbody tr button.resume");
  await until("seeding again", async () => (await page.getAttribute("#torrents tbody tr", "data-state")) === "seeding", 20000);

  // Its detail.
  await page.click("#torrents tbody tr td.name");
  await page.waitForSelector("#detail:not([hidden])");
  await until("its files", async () => (await page.textContent("#detail-files tbody")).includes("web-movie.bin"), 10000);
  // Its times: downloaded here, so completed, and it has moved payload.
  const times = await page.textContent("#detail-times");
  if (!/^added .+ · completed .+ · ran \d+ (s|min), seeded \d+ (s|min) · last activity (?!never)/.test(times)) {
    fail("its times are not shown: " + times);
  }
  await shot("detail");
  // Its .torrent, saved from the detail: the file the daemon was given.
  const [saved] = await Promise.all([page.waitForEvent("download"), page.click("#detail-export")]);
  const file = readFileSync(await saved.path());
  if (!file.includes(Buffer.from("4:infod")) || saved.suggestedFilename() !== `${id}.torrent`) {
    fail("the saved .torrent is not one: " + saved.suggestedFilename() + " " + file.subarray(0, 40));
  }
  // Labels and limits from the detail.
  await page.fill("#detail-labels", "tv");
  await page.fill("#detail-up", "123456");
  await page.check("#detail-super");
  await page.fill("#detail-ratio", "2.5");
  await page.selectOption("#detail-action", "remove");
  await page.click("#detail-form button");
  await until("applied", async () => (await page.textContent("#detail-status")) === "applied", 10000);
  const after = await apiGet(`/torrents/${id}`);
  if (JSON.stringify(after.labels) !== '["tv"]' || after.upload_limit !== 123456 || !after.super_seeding) {
    fail("the detail's changes did not reach the daemon: " + JSON.stringify(after));
  }
  const own = after.share_limits || {};
  if (own.ratio_limit !== 2.5 || own.share_limit_action !== "remove" || own.seeding_time_limit_mins !== null) {
    fail("the detail's share limits did not reach the daemon: " + JSON.stringify(after));
  }
  // Shown again as set, and cleared back to the global ones.
  await until("the ratio shown", async () => (await page.inputValue("#detail-ratio")) === "2.5", 10000);
  await page.fill("#detail-ratio", "");
  await page.selectOption("#detail-action", "");
  await page.click("#detail-form button");
  await until("cleared", async () => (await apiGet(`/torrents/${id}`)).share_limits === undefined, 10000);
  await until("the label filter offers tv", async () => (await page.$$eval("#label-filter option", (os) => os.map((o) => o.value))).includes("tv"), 10000);
  await page.selectOption("#label-filter", "tv");
  await until("the filter keeps it", async () => (await page.$$("#torrents tbody tr")).length === 1, 10000);
  await shot("detail-applied");

  // Roots: the default with its free space; a new one, made the default.
  await page.click("button[data-view=roots]");
  await until("the roots table", async () => (await page.textContent("#roots tbody")).includes("default"), 10000);
  await page.fill("#root-token", "disk2");
  await page.fill("#root-label", "Second disk");
  await page.fill("#root-path", join(dir, "disk2"));
  await page.click("#root-form button");
  await until("the new root", async () => (await page.textContent("#roots tbody")).includes("Second disk"), 10000);
  await page.click("#roots tbody tr:has-text('Second disk') button.default");
  await until("disk2 the default", async () => (await apiGet("/roots")).some((r) => r.token === "disk2" && r.default), 10000);
  if (!existsSync(join(dir, "disk2/.seedring-root"))) fail("the root has no marker");
  await shot("roots");

  // Categories: one whose save path is the new root; the torrent filed under
  // it moves there and shows it.
  await page.click("button[data-view=categories]");
  await page.fill("#category-name", "films");
  await page.fill("#category-path", join(dir, "disk2", "films"));
  await page.click("#category-form button");
  await until("the category", async () => (await page.textContent("#categories tbody")).includes("films"), 10000);
  await shot("categories");
  await page.click("button[data-view=torrents]");
  await page.selectOption("#label-filter", "");
  await page.click("#torrents tbody tr td.name");
  await page.waitForSelector("#detail:not([hidden])");
  await until("the detail offers films", async () => (await page.$$eval("#detail-category option", (os) => os.map((o) => o.value))).includes("films"), 10000);
  await page.selectOption("#detail-category", "films");
  // A user who picks and then looks: the page refreshes the detail twice
  // meanwhile (selectOption leaves the focus where it was), and the choice
  // must still be there when the form is applied.
  await new Promise((r) => setTimeout(r, 2500));
  if ((await page.inputValue("#detail-category")) !== "films") fail("a refresh undid the category picked");
  await page.click("#detail-form button");
  await until("filed and moved", async () => {
    const t = await apiGet(`/torrents/${id}`);
    return t.category === "films" && t.state === "seeding" && existsSync(join(dir, "disk2", "films", "web-movie.bin"));
  }, 30000);
  await until("the category column", async () => (await page.textContent("#torrents tbody tr td.category")) === "films", 10000);
  await page.selectOption("#category-filter", "films");
  await until("the category filter keeps it", async () => (await page.$$("#torrents tbody tr")).length === 1, 10000);
  await page.selectOption("#category-filter", "");
  // Placed by hand: unticked and taken out of its category, its files stay.
  if (!(await page.isChecked("#detail-follow"))) fail("a torrent added without a root does not follow its category");
  await page.uncheck("#detail-follow");
  await page.selectOption("#detail-category", "");
  await page.click("#detail-form button");
  await until("out of its category, by hand", async () => {
    const t = await apiGet(`/torrents/${id}`);
    return t.category === "" && !t.follows_category;
  }, 10000);
  await new Promise((r) => setTimeout(r, 1000));
  if (!existsSync(join(dir, "disk2", "films", "web-movie.bin"))) fail("the files of a torrent placed by hand moved");
  // A file renamed from the detail: on disk, and in the list.
  promptAnswer = "renamed-movie.bin";
  await page.click("#detail-files tbody tr button.rename");
  await until("the file renamed", async () => {
    const files = await apiGet(`/torrents/${id}/files`);
    return files[0].path === "renamed-movie.bin" && existsSync(join(dir, "disk2", "films", "renamed-movie.bin"));
  }, 30000);
  promptAnswer = null;
  await until("the new name shown", async () => (await page.textContent("#detail-files tbody")).includes("renamed-movie.bin"), 10000);
  await shot("renamed");
  // A file's priority from the detail: sent for that file alone, and shown
  // as it is once the detail is drawn again.
  await page.selectOption("#detail-files tbody tr select.file-priority", "7");
  await until("the file's priority set", async () => (await apiGet(`/torrents/${id}/files`))[0].priority === 7, 10000);
  // The detail is drawn again every second: two later, it shows the file's own.
  await new Promise((r) => setTimeout(r, 2500));
  const shownPrio = await page.$eval("#detail-files tbody tr select.file-priority", (s) => s.value);
  if (shownPrio !== "7") fail(`the detail shows priority ${shownPrio}, not the file's 7`);
  await page.selectOption("#detail-files tbody tr select.file-priority", "1");
  await until("the file's priority back to normal", async () => (await apiGet(`/torrents/${id}/files`))[0].priority === 1, 10000);
  // Moved to another root from the detail: its file goes there.
  await until("the detail offers the default root", async () => (await page.$$eval("#detail-root option", (os) => os.map((o) => o.value))).includes("default"), 10000);
  await page.selectOption("#detail-root", "default");
  await page.click("#detail-form button");
  await until("moved to the default root", async () => {
    const t = await apiGet(`/torrents/${id}`);
    return t.root === "default" && t.state === "seeding" && existsSync(join(dir, "downloads", "renamed-movie.bin"));
  }, 30000);
  if (existsSync(join(dir, "disk2", "films", "renamed-movie.bin"))) fail("the moved file is still in its old root");
  await until("the detail shows its root", async () => (await page.textContent("#detail-info")).includes("in root default"), 10000);
  await page.click("#detail-close");

  // Settings: change the global upload limit.
  await page.click("button[data-view=settings]");
  await page.waitForSelector("#settings-form input[name=upload_limit]");
  await page.fill("#settings-form input[name=upload_limit]", "654321");
  await page.click("#settings-form button");
  await until("the setting saved", async () => (await apiGet("/settings")).upload_limit === 654321, 10000);
  // The alternative limits and their schedule are settings like the others.
  await page.fill("#settings-form input[name=alt_upload_limit]", "12288");
  await page.fill("#settings-form input[name=schedule_from]", "07:30");
  await page.fill("#settings-form input[name=schedule_days]", "weekends");
  await page.click("#settings-form button");
  await until("the alternative limit saved", async () => {
    const s = await apiGet("/settings");
    return s.alt_upload_limit === 12288 && s.schedule_from === "07:30" && s.schedule_days === "weekends";
  }, 10000);
  await shot("settings");
  // The header's button switches them into force, and back.
  await page.click("#alt-limits");
  await until("the alternative limits in force", async () => {
    const st = await apiGet("/stats");
    return st.alt_limits && st.upload_limit === 12288;
  }, 10000);
  await until("the button lit", async () => (await page.getAttribute("#alt-limits", "class")).includes("on"), 10000);
  await until("the cap shown", async () => (await page.textContent("#totals")).includes("max 12"), 10000);
  await shot("alternative-limits");
  await page.click("#alt-limits");
  await until("the normal limits again", async () => {
    const st = await apiGet("/stats");
    return !st.alt_limits && st.upload_limit === 654321;
  }, 10000);
  await page.click("button[data-view=torrents]");
  await page.selectOption("#label-filter", "");

  // A torrent whose name is HTML shows as text, and runs nothing.
  await page.setInputFiles("#add-file", evil);
  await page.click("#add-button");
  await until("the second torrent", async () => (await page.$$("#torrents tbody tr")).length === 2, 20000);
  const names = await page.$$eval("#torrents tbody td.name", (tds) => tds.map((t) => t.textContent));
  if (!names.includes("<img src=x onerror=alert(1)>")) fail("the HTML name is not shown as text: " + names);
  if ((await page.$$("#torrents img")).length !== 0) fail("the name became an element");
  await shot("html-name-as-text");

  // The log view: lines arrive, live.
  await page.click("button[data-view=logs]");
  await until("log lines", async () => (await page.$$("#log-lines li")).length > 0, 10000);
  const before = (await page.$$("#log-lines li")).length;
  // Adding a torrent logs "torrent added" (info).
  await fetch(`${base}/api/v1/torrents`, {
    method: "POST",
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify({ magnet: "magnet:?xt=urn:btih:" + "c".repeat(40) + "&dn=live", paused: true }),
  });
  await until("a new live log line", async () => (await page.$$("#log-lines li")).length > before, 15000);
  await shot("log");
  if (dialogs.some((d) => d === "1")) fail("a script from a torrent name ran");
  console.log(`web test passed: ${step} screenshots in ${shots}`);
} catch (e) {
  await shot("failure").catch(() => {});
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
cleanup();
