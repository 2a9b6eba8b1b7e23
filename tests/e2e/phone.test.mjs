// The animator's phone app without the network, as an animator in a rural EPN uses it: the week
// is opened once with the Wi-Fi, the Wi-Fi drops, two sheets are saved on the phone, the page is
// reloaded, the Wi-Fi comes back and each attendance reaches the service once. Two phones saving
// the same sheet, hours used elsewhere meanwhile, a phone whose clock runs ahead, and a voucher
// found from the QR code of its holder's letter.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import {
  api,
  baseUrl,
  checkAccessibility,
  browser,
  browserWith,
  eventually,
  issueVoucher,
  lotScheme,
  page,
  parisMinutesSinceMidnight,
  printToPdf,
  registerAtDemoEpn,
  screenshot,
  signIn,
} from "./support.mjs";

let chromium;
let scheme;

before(async () => {
  chromium = await browser();
  scheme = await lotScheme();
});

after(async () => {
  await chromium?.close();
});

/** A voucher of a new holder, registered at the demo EPN with modules 1 to 10 chosen. */
async function registeredVoucher(firstName, lastName) {
  const reference = await issueVoucher(firstName, lastName);
  await registerAtDemoEpn(reference, lastName);
  return reference;
}

/** A session of the demo EPN starting `minutesFromNow` from now (negative: already started). */
async function plannedSession(minutesFromNow, minutes = 120, place = null) {
  // A session of the last hour starts no earlier than midnight in Paris: before, it would be
  // yesterday's, before the voucher issued today.
  const offset = Math.max(minutesFromNow, -parisMinutesSinceMidnight());
  const session = await api(
    "POST",
    "/v1/sessions",
    "EPN_LOT",
    {
      scheme_id: scheme.id,
      module_number: 1,
      starts_at: new Date(Date.now() + offset * 60000).toISOString(),
      duration_minutes: minutes,
      capacity: 8,
      ...(place ? { place } : {}),
    },
    201,
  );
  return session.id;
}

async function minutesLeft(reference) {
  return (await api("GET", `/v1/vouchers/${reference}`, "TENANT_ADMIN_LOT")).minutes_left;
}

/** The animator's phone, signed in, with the app opened online once and its service worker in
 * control: what the phone keeps from then on. */
async function animatorPhone() {
  const phone = await page(chromium, { phone: true });
  await signIn(phone, "epn@lot.example");
  await phone.goto(`${baseUrl}/portail/lot/epn/telephone/`);
  await phone.locator("#telephone[data-pret='1']").waitFor();
  await phone.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await eventually(() => phone.evaluate(() => navigator.serviceWorker.controller !== null), 20, "the service worker in control");
  return phone;
}

/** Cuts the phone's network: the page's requests and those of its service worker. */
async function offline(phone) {
  await phone.context().setOffline(true);
  await phone.context().route("**", (route) => route.abort("internetdisconnected"));
}

async function online(phone) {
  await phone.context().unrouteAll({ behavior: "ignoreErrors" });
  await phone.context().setOffline(false);
}

/** Opens the sheet of the session `sessionId` from the app's list. */
async function openSheet(phone, sessionId) {
  await phone.goto(`${baseUrl}/portail/lot/epn/telephone/#seance/${sessionId}`);
  await phone.getByRole("heading", { level: 2, name: /Feuille de présence|Corriger/ }).waitFor();
}

/** The prescriber prints the voucher's letter; the animator photographs it (its first page as
 * a PNG image); the photo's path. */
async function letterPhoto(reference, name) {
  const prescriber = await page(chromium);
  await signIn(prescriber, "prescriber@lot.example");
  await prescriber.goto(`${baseUrl}/portail/lot/cheques/${reference}/courrier`);
  const pdf = await printToPdf(prescriber, name);
  await prescriber.context().close();
  const photo = pdf.replace(/\.pdf$/, "-photo");
  execFileSync("pdftoppm", ["-r", "150", "-f", "1", "-l", "1", "-singlefile", "-png", pdf, photo]);
  return `${photo}.png`;
}

function person(phone, reference) {
  return phone.locator(`section.personne[data-reference="${reference}"]`);
}

/** The person's block on the open sheet: listed already, or added with the sheet's finder by the
 * end of the reference, as an animator does at a busy EPN. */
async function onSheet(phone, reference) {
  if ((await person(phone, reference).count()) === 0) {
    await phone.getByLabel("Ajouter une personne inscrite à l’EPN").fill(reference.slice(-6));
    await phone.getByRole("button", { name: `(${reference})`, exact: false }).click();
  }
  return person(phone, reference);
}

async function waiting(phone) {
  return Number(await phone.locator("#etat").getAttribute("data-attente"));
}

function outcomeOf(phone, key, reference) {
  return phone.locator(`section.envoi[data-key="${key}"] li[data-reference="${reference}"]`);
}

async function sheetKeys(phone) {
  return phone.locator("section.envoi").evaluateAll((items) => items.map((i) => i.dataset.key));
}

test("sheets saved with no network are sent once when it comes back, even after a reload", async () => {
  const first = await registeredVoucher("Marcelle", "Delpech");
  const second = await registeredVoucher("Raymond", "Bouzou");
  const morning = await plannedSession(-40, 120, "Salle du conseil");
  const afternoon = await plannedSession(-20);
  const phone = await animatorPhone();
  await phone.getByRole("link", { name: "Trouver un chèque (QR code)" }).waitFor();
  await screenshot(phone, "phone-week");

  await offline(phone);
  await openSheet(phone, morning);
  await phone.getByText("Compétences travaillées par le groupe").click();
  await phone.getByLabel(/^1\.1 /).first().selectOption("practised");
  await (await onSheet(phone, first)).getByLabel(/^Présent/).check({ force: true });
  await screenshot(phone, "phone-sheet-offline");
  await phone.getByRole("button", { name: "Enregistrer la feuille" }).click();
  await phone.getByRole("heading", { level: 2, name: "Feuilles enregistrées" }).waitFor();
  assert.match(await phone.locator("#etat").innerText(), /Hors connexion/);
  assert.match(await phone.locator("#etat").innerText(), /1 feuille enregistrée sur le téléphone, pas encore envoyée/);

  await openSheet(phone, afternoon);
  await (await onSheet(phone, second)).getByLabel(/^Présent/).check({ force: true });
  await phone.getByRole("button", { name: "Enregistrer la feuille" }).click();
  await phone.getByRole("heading", { level: 2, name: "Feuilles enregistrées" }).waitFor();
  assert.equal(await waiting(phone), 2);
  await screenshot(phone, "phone-sheets-waiting");

  // The tab is reloaded with no network: the app and its two sheets are still there.
  await phone.reload();
  await phone.locator("#telephone[data-pret='1']").waitFor();
  assert.equal(await waiting(phone), 2);
  assert.equal(await phone.getByText("Enregistrée sur le téléphone, pas encore envoyée").count(), 2);
  assert.equal(await minutesLeft(first), 1200, "nothing reached the service while offline");

  await online(phone);
  await eventually(async () => (await waiting(phone)) === 0, 30, "the waiting sheets to be sent");
  const keys = await sheetKeys(phone);
  assert.equal(keys.length, 2);
  const lines = await phone.locator("li[data-issue]").evaluateAll((items) => items.map((i) => [i.dataset.reference, i.dataset.issue]));
  assert.deepEqual(lines.sort(), [[first, "recorded"], [second, "recorded"]].sort());
  await screenshot(phone, "phone-sheets-sent");
  assert.equal(await minutesLeft(first), 1200 - 120);
  assert.equal(await minutesLeft(second), 1200 - 120);
  // Sent again (a retry after a lost answer), the sheets debit nothing more.
  await phone.evaluate(async () => {
    const db = await new Promise((resolve) => {
      const request = indexedDB.open("passerelle-telephone-lot", 1);
      request.onsuccess = () => resolve(request.result);
    });
    const sheets = await new Promise((resolve) => {
      const all = db.transaction("envois").objectStore("envois").getAll();
      all.onsuccess = () => resolve(all.result);
    });
    const token = await new Promise((resolve) => {
      const week = db.transaction("semaine").objectStore("semaine").get("semaine");
      week.onsuccess = () => resolve(week.result.owner.csrf_token);
    });
    for (const sheet of sheets) {
      await fetch("/portail/lot/epn/telephone/feuilles", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": token },
        body: sheet.body,
      });
    }
  });
  assert.equal(await minutesLeft(first), 1200 - 120);
  assert.equal(await minutesLeft(second), 1200 - 120);

  // Sign-out wipes what the phone kept: the week's names and the sheets.
  await phone.goto(`${baseUrl}/portail/lot/`);
  await phone.getByRole("button", { name: "Se déconnecter" }).click();
  await phone.waitForURL(/\/connexion\?deconnecte=1$/);
  const kept = await phone.evaluate(async () => ({
    databases: (await indexedDB.databases()).map((d) => d.name),
    caches: await caches.keys(),
  }));
  assert.deepEqual(kept, { databases: [], caches: [] });
  await phone.context().close();
});

test("the same sheet saved on two phones records once; the other is told it is already recorded", async () => {
  const reference = await registeredVoucher("Odile", "Lagarrigue");
  const session = await plannedSession(-15);
  const phones = [await animatorPhone(), await animatorPhone()];
  for (const phone of phones) {
    await offline(phone);
    await openSheet(phone, session);
    await (await onSheet(phone, reference)).getByLabel(/^Présent/).check({ force: true });
    await phone.getByRole("button", { name: "Enregistrer la feuille" }).click();
    await phone.getByRole("heading", { level: 2, name: "Feuilles enregistrées" }).waitFor();
  }
  // The first phone leaves the app before the network comes back: its sheet waits.
  const [first] = phones;
  await first.goto("about:blank");
  for (const phone of phones) await online(phone);
  // Signing out would wipe a sheet not sent yet: the home page asks first, and "Annuler" keeps it.
  await first.goto(`${baseUrl}/portail/lot/`);
  const asked = new Promise((resolve) => {
    first.once("dialog", async (dialog) => {
      resolve(dialog.message());
      await dialog.dismiss();
    });
  });
  await first.getByRole("button", { name: "Se déconnecter" }).click();
  assert.match(await asked, /1 feuille\(s\) de présence enregistrée\(s\) sur ce téléphone ne sont pas encore envoyées/);
  await first.getByRole("heading", { level: 1, name: /Bonjour/ }).waitFor();
  await first.goto(`${baseUrl}/portail/lot/epn/telephone/#envois`);
  for (const phone of phones) await eventually(async () => (await waiting(phone)) === 0, 30, "the sheet to be sent");
  const outcomes = [];
  for (const phone of phones) {
    const [key] = await sheetKeys(phone);
    outcomes.push(await outcomeOf(phone, key, reference).getAttribute("data-issue"));
  }
  assert.deepEqual([...outcomes].sort(), ["already_recorded", "recorded"]);
  const told = phones[outcomes.indexOf("already_recorded")];
  assert.match(await told.locator("li[data-issue='already_recorded']").innerText(), /déjà enregistrée/i);
  await screenshot(told, "phone-already-recorded");
  assert.equal(await minutesLeft(reference), 1200 - 120);
  for (const phone of phones) await phone.context().close();
});

test("hours used elsewhere meanwhile refuse the line with its reason; corrected, it is sent again", async () => {
  const reference = await registeredVoucher("Yvette", "Calmettes");
  const own = await plannedSession(-30, 480);
  // A session starting in two hours, saved on a phone whose clock runs three hours ahead: the
  // service's clock decides.
  const later = await plannedSession(120, 60);
  const phone = await animatorPhone();
  await phone.clock.setFixedTime(new Date(Date.now() + 3 * 3600 * 1000));
  await offline(phone);
  await openSheet(phone, own);
  await (await onSheet(phone, reference)).getByLabel(/^Présent/).check({ force: true });
  await phone.getByRole("button", { name: "Enregistrer la feuille" }).click();
  await phone.getByRole("heading", { level: 2, name: "Feuilles enregistrées" }).waitFor();
  await openSheet(phone, later);
  await (await onSheet(phone, reference)).getByLabel(/^Présent/).check({ force: true });
  await phone.getByRole("button", { name: "Enregistrer la feuille" }).click();
  await phone.getByRole("heading", { level: 2, name: "Feuilles enregistrées" }).waitFor();

  // Meanwhile, two long sessions recorded through another channel leave less than the 8 hours.
  for (const started of [await plannedSession(-60, 480), await plannedSession(-50, 480)]) {
    await api("POST", `/v1/sessions/${started}/attendance`, "EPN_LOT", {
      entries: [{ reference, status: "present" }],
    });
  }
  assert.equal(await minutesLeft(reference), 240);

  await online(phone);
  await eventually(async () => (await waiting(phone)) === 0, 30, "the sheets to be sent");
  const texts = await phone.locator("li[data-issue='refused']").allInnerTexts();
  assert.equal(texts.length, 2, texts.join("\n"));
  assert.ok(texts.some((t) => t.includes(reference) && /ne suffit pas/.test(t)), texts.join("\n"));
  // The sheet of the session not started yet is refused whole, by the service's clock.
  assert.match(
    await phone.locator("section.envoi").filter({ hasText: "pas encore commencé" }).innerText(),
    /Feuille refusée : Cette séance n’a pas encore commencé/,
  );
  await screenshot(phone, "phone-line-refused");
  assert.equal(await minutesLeft(reference), 240);

  // The refused line of the long session is corrected (the person left: absent) and resent.
  const ownKey = await phone
    .locator("section.envoi")
    .filter({ hasText: "ne suffit pas" })
    .getAttribute("data-key");
  await phone.locator(`section.envoi[data-key="${ownKey}"]`).getByRole("link", { name: /Corriger et renvoyer/ }).click();
  await phone.getByRole("heading", { level: 2, name: "Corriger la feuille" }).waitFor();
  assert.equal(await phone.locator("section.personne").count(), 1);
  await screenshot(phone, "phone-sheet-correction");
  await person(phone, reference).getByLabel(/^Absent/).check({ force: true });
  await phone.getByRole("button", { name: "Enregistrer la feuille" }).click();
  await eventually(async () => (await phone.locator("li[data-issue='recorded']").count()) === 1, 30, "the corrected sheet");
  assert.match(await phone.locator("li[data-issue='recorded']").innerText(), /noté absent/);
  assert.match(await phone.locator(`section.envoi[data-key="${ownKey}"]`).innerText(), /Corrigée par une feuille plus récente/);
  assert.equal(await minutesLeft(reference), 240);
  await phone.context().close();
});

test("a busy EPN's sheet lists the people booked on the session and finds anyone else registered", async () => {
  const booked = await registeredVoucher("Rosalie", "Cambou");
  const walkIn = await registeredVoucher("Fernand", "Lacassagne");
  const session = await plannedSession(-10);
  await api("POST", `/v1/sessions/${session}/enrolments`, "EPN_LOT", { reference: booked });
  const phone = await animatorPhone();
  await offline(phone);
  await openSheet(phone, session);
  // The demo EPN has dozens of open registrations: the sheet lists the person booked, not them all.
  assert.equal(await phone.locator("section.personne").count(), 1);
  assert.equal(await person(phone, booked).count(), 1);
  const hint = await phone.locator("#chercher-personne-aide").innerText();
  const others = Number(/(\d+) autres personnes inscrites/.exec(hint)?.[1]);
  assert.ok(others > 30, hint);
  // Found with no network, by a part of the name typed without its capital or accent.
  const finder = phone.getByLabel("Ajouter une personne inscrite à l’EPN");
  await finder.fill("la");
  assert.ok((await phone.locator("ul.trouvees li").count()) <= 8, "a handful proposed at once");
  await finder.fill("lacassa");
  assert.match(await phone.getByRole("status").filter({ hasText: "correspond" }).innerText(), /1 personne correspond/);
  await phone.getByRole("button", { name: `Ajouter Fernand Lacassagne (${walkIn})` }).click();
  assert.equal(await phone.locator("section.personne").count(), 2);
  assert.equal(await person(phone, walkIn).locator("input[type=radio]").first().evaluate((input) => input === document.activeElement), true);
  assert.equal(await phone.locator("ul.trouvees li").count(), 0, "the search is cleared");
  await (await onSheet(phone, booked)).getByLabel(/^Présent/).check({ force: true });
  await (await onSheet(phone, walkIn)).getByLabel(/^Présent/).check({ force: true });
  await checkAccessibility(phone, "phone-sheet-busy-epn");
  await screenshot(phone, "phone-sheet-busy-epn");
  await phone.getByRole("button", { name: "Enregistrer la feuille" }).click();
  await phone.getByRole("heading", { level: 2, name: "Feuilles enregistrées" }).waitFor();

  await online(phone);
  await eventually(async () => (await waiting(phone)) === 0, 30, "the sheet to be sent");
  const lines = await phone.locator("li[data-issue]").evaluateAll((items) => items.map((i) => [i.dataset.reference, i.dataset.issue]));
  assert.deepEqual(lines.sort(), [[booked, "recorded"], [walkIn, "recorded"]].sort());
  await phone.context().close();
});

test("a voucher is found from a photo of its holder's letter and its sheet opens", async () => {
  const reference = await registeredVoucher("Gisèle", "Bessières");
  // Started a moment ago: the card offers the sessions nearest now, and the suite's earlier tests
  // leave several within minutes of it.
  const session = await plannedSession(-2);
  const photo = await letterPhoto(reference, "phone-letter");

  const phone = await animatorPhone();
  await offline(phone);
  await phone.getByRole("link", { name: "Trouver un chèque (QR code)" }).click();
  await phone.getByRole("heading", { level: 2, name: "Trouver un chèque" }).waitFor();
  await screenshot(phone, "phone-lookup");
  await phone.getByLabel(/Ou une photo du QR code/).setInputFiles(photo);
  const card = phone.locator(".cheque-trouve");
  await card.waitFor({ timeout: 20000 });
  assert.match(await card.innerText(), /Gisèle Bessières/);
  assert.match(await card.innerText(), new RegExp(reference));
  await screenshot(phone, "phone-lookup-found");
  await card.locator(`a[href$="#seance/${session}/${reference}"]`).click();
  await phone.getByRole("heading", { level: 2, name: "Feuille de présence" }).waitFor();
  assert.ok(await person(phone, reference).getByLabel(/^Présent/).isChecked(), "the scanned person is ticked present");
  assert.equal(new URL(phone.url()).hash.split("/")[1], session);

  // Online, the letter of a voucher not registered yet leads to its registration.
  await online(phone);
  const newcomer = await issueVoucher("Lucien", "Couderc");
  const newcomerPhoto = await letterPhoto(newcomer, "phone-letter-newcomer");
  await phone.goto(`${baseUrl}/portail/lot/epn/telephone/#chercher`);
  await phone.getByLabel(/Ou une photo du QR code/).setInputFiles(newcomerPhoto);
  await phone.getByRole("link", { name: `Inscrire le chèque ${newcomer} dans l’EPN` }).click();
  await phone.getByText(`Chèque ${newcomer}`).waitFor();
  assert.equal(await phone.getByLabel(/^Nom du titulaire/).inputValue(), "");

  // Typed instead: the reference, in lower case.
  await phone.goto(`${baseUrl}/portail/lot/epn/telephone/#chercher`);
  await phone.getByLabel(/Référence du chèque ou code du courrier/).fill(reference.toLowerCase());
  await phone.getByRole("button", { name: "Chercher" }).click();
  await card.waitFor();
  assert.match(await card.innerText(), /Gisèle Bessières/);
  await phone.context().close();
});

/**
 * The letter's first page as a camera would film it: a YUV4MPEG2 video (grey, 800 × 1132) that
 * Chromium's fake camera plays in a loop. Built from poppler's grey rendering (a PGM image).
 */
function letterFilm(pdf) {
  const image = pdf.replace(/\.pdf$/, "-camera");
  execFileSync("pdftoppm", ["-gray", "-scale-to-x", "800", "-scale-to-y", "1132", "-f", "1", "-l", "1", "-singlefile", pdf, image]);
  const pgm = readFileSync(`${image}.pgm`);
  // "P5\n800 1132\n255\n" then the pixels, one byte each.
  let at = 0;
  for (let fields = 0; fields < 4; ) {
    while (/\s/.test(String.fromCharCode(pgm[at]))) at++;
    while (!/\s/.test(String.fromCharCode(pgm[at]))) at++;
    fields++;
  }
  const luma = pgm.subarray(at + 1, at + 1 + 800 * 1132);
  const chroma = Buffer.alloc((800 / 2) * (1132 / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from("FRAME\n"), luma, chroma]);
  const film = `${image}.y4m`;
  writeFileSync(film, Buffer.concat([Buffer.from("YUV4MPEG2 W800 H1132 F5:1 Ip A1:1 C420jpeg\n"), frame, frame]));
  return film;
}

test("the phone's camera reads the letter's QR code and opens the voucher", async () => {
  const reference = await registeredVoucher("Paulette", "Lagarde");
  await plannedSession(-5);
  const photo = await letterPhoto(reference, "phone-letter-camera");
  const film = letterFilm(photo.replace(/-photo\.png$/, ".pdf"));
  const filming = await browserWith([
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    `--use-file-for-fake-video-capture=${film}`,
  ]);
  try {
    const phone = await page(filming, { phone: true });
    await phone.context().grantPermissions(["camera"], { origin: baseUrl });
    await signIn(phone, "epn@lot.example");
    await phone.goto(`${baseUrl}/portail/lot/epn/telephone/#chercher`);
    await phone.locator("#telephone[data-pret='1']").waitFor();
    await phone.getByRole("button", { name: "Scanner avec l’appareil photo" }).click();
    const card = phone.locator(".cheque-trouve");
    await card.waitFor({ timeout: 20000 });
    assert.match(await card.innerText(), /Paulette Lagarde/);
    // The camera is stopped once the code is read.
    assert.equal(await phone.locator("video.camera").isHidden(), true);
  } finally {
    await filming.close();
  }
});
