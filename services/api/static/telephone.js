// The animator's phone app: the EPN's week kept on the phone, attendance sheets saved with no
// network and sent when it comes back, and a voucher found from the QR code of its holder's
// letter. Plain DOM with the DSFR's classes, no framework; the page's text is French.
//
// What the phone keeps, in IndexedDB (one database per territory):
// - `semaine`: the week as the server last sent it, with whom it belongs to (`owner`);
// - `envois`: the sheets saved on the phone, each with its own key, waiting or sent with the
//   answer of each line. A sheet is stored before anything is sent: closing the tab or
//   restarting the phone loses nothing that was saved.
// Both are wiped by the server at sign-out (Clear-Site-Data); another user signing in on the same
// phone sees neither the week nor the sheets of the previous one.

const root = document.getElementById("telephone");
const APP = root.dataset.app;
const PORTAIL = root.dataset.portail;
const TENANT = root.dataset.tenant;
const status = document.getElementById("etat");
const view = document.getElementById("vue");

/** How often waiting sheets are tried again while the page is open. */
const RETRY_MS = 20000;

/** Up to this many people registered at the EPN, a sheet lists them all; beyond, it lists those
 * booked on the session (and those already noted) and finds the others by name or reference: a
 * sheet of two hundred people is neither readable nor quick to draw on a phone. */
const SHEET_LISTS_EVERYONE_UP_TO = 30;
/** How many people the finder proposes at once. */
const FOUND_AT_MOST = 8;

// ---------------------------------------------------------------------------------------------
// Storage

let database;

function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(`passerelle-telephone-${TENANT}`, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("semaine");
      db.createObjectStore("envois", { keyPath: "key" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function transaction(store, mode, work) {
  return new Promise((resolve, reject) => {
    const tx = database.transaction(store, mode);
    const result = work(tx.objectStore(store));
    tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

const storedWeek = () => transaction("semaine", "readonly", (s) => s.get("semaine"));
const storeWeek = (week) => transaction("semaine", "readwrite", (s) => s.put(week, "semaine"));
const forgetWeek = () => transaction("semaine", "readwrite", (s) => s.clear());
const allSheets = () => transaction("envois", "readonly", (s) => s.getAll());
const storeSheet = (sheet) => transaction("envois", "readwrite", (s) => s.put(sheet));

// ---------------------------------------------------------------------------------------------
// State

let week = null;
/** The server asked the animator to sign in again: nothing is sent until they have. */
let signedOut = false;
let sending = false;

function owner() {
  return week?.owner?.user_id ?? null;
}

async function mySheets() {
  const mine = (await allSheets()).filter((s) => s.user_id === owner());
  return mine.sort((a, b) => a.saved_at.localeCompare(b.saved_at));
}

async function waitingSheets() {
  return (await mySheets()).filter((s) => s.state === "waiting");
}

// ---------------------------------------------------------------------------------------------
// DOM helpers: text is always set as text, never as markup.

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The animator moved to another view: its heading takes the focus (a view drawn again with
 * fresh data leaves it where it is). */
let moved = false;

function show(...nodes) {
  view.replaceChildren(...nodes);
  const heading = view.querySelector("h2");
  if (heading && moved) {
    moved = false;
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

function plural(count, one, many) {
  return `${count} ${count > 1 ? many : one}`;
}

function alertBox(kind, title, ...lines) {
  return el(
    "div",
    { class: `fr-alert fr-alert--${kind} fr-mb-3w` },
    el("h3", { class: "fr-alert__title" }, title),
    ...lines.map((line) => (line instanceof Node ? line : el("p", {}, line))),
  );
}

// ---------------------------------------------------------------------------------------------
// The banner: network, waiting sheets, signing in again.

async function refreshStatus() {
  const waiting = (await waitingSheets()).length;
  const parts = [];
  parts.push(navigator.onLine ? "En ligne." : "Hors connexion : les feuilles sont enregistrées sur le téléphone.");
  if (waiting > 0) {
    parts.push(`${plural(waiting, "feuille enregistrée sur le téléphone, pas encore envoyée", "feuilles enregistrées sur le téléphone, pas encore envoyées")}.`);
  }
  const line = el("span", {}, parts.join(" "));
  const children = [line];
  if (signedOut) {
    children.push(" ", el("a", { href: `${PORTAIL}/connexion` }, "Se reconnecter pour envoyer les feuilles"));
  }
  status.replaceChildren(...children);
  status.className = `fr-notice fr-p-2w fr-mb-2w ${waiting > 0 || !navigator.onLine ? "en-attente" : ""}`;
  status.dataset.attente = String(waiting);
}

// ---------------------------------------------------------------------------------------------
// The network

async function fetchWeek() {
  let response;
  try {
    response = await fetch(`${APP}/semaine`, { credentials: "same-origin", cache: "no-store" });
  } catch {
    return;
  }
  if (response.status === 401) {
    signedOut = true;
    return;
  }
  if (!response.ok) return;
  const fresh = await response.json();
  signedOut = false;
  if (week && week.owner.user_id !== fresh.owner.user_id) {
    // Another user signed in on this phone: the previous one's week goes.
    await forgetWeek();
  }
  week = fresh;
  await storeWeek(week);
}

/** Sends one sheet; `false` when sending must stop for now (no network, signed out, a fault). */
async function send(sheet, retried = false) {
  let response;
  try {
    response = await fetch(`${APP}/feuilles`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": week.owner.csrf_token },
      body: sheet.body,
    });
  } catch {
    return false;
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (answer && Array.isArray(answer.lines)) {
    sheet.state = "sent";
    sheet.sent_at = new Date().toISOString();
    sheet.report = answer;
    await storeSheet(sheet);
    return true;
  }
  if (response.status === 401) {
    signedOut = true;
    return false;
  }
  if (response.status === 403 && answer?.code === "formulaire" && !retried) {
    // The session's token changed (signed in again): take the new one and try once more.
    await fetchWeek();
    return week ? send(sheet, true) : false;
  }
  if (response.status === 400 || response.status === 422) {
    sheet.state = "sent";
    sheet.sent_at = new Date().toISOString();
    sheet.report = { whole: answer?.message ?? "Feuille refusée.", lines: [] };
    await storeSheet(sheet);
    return true;
  }
  // 409 (being sent), 5xx, anything else: it stays waiting and goes later.
  return false;
}

/** Sends the waiting sheets in the order they were saved, each with its own key. */
async function sendWaiting() {
  if (sending || !week || signedOut) return;
  sending = true;
  let sentAny = false;
  try {
    for (const sheet of await waitingSheets()) {
      if (!(await send(sheet))) break;
      sentAny = true;
    }
  } finally {
    sending = false;
  }
  if (sentAny) {
    await fetchWeek();
    await refreshView();
  }
  await refreshStatus();
}

/** Draws the view again with fresh data, unless the animator is filling in a sheet. */
async function refreshView() {
  const [name] = location.hash.replace(/^#/, "").split("/");
  if (name === "" || name === "envois") await route();
}

// ---------------------------------------------------------------------------------------------
// Views

function sessionById(id) {
  return week?.sessions.find((s) => s.id === id) ?? null;
}

function schemeOf(session) {
  return week.schemes.find((s) => s.id === session.scheme_id);
}

function voucherByReference(reference) {
  return week.vouchers.find((v) => v.reference === reference) ?? null;
}

function moduleLabel(session) {
  if (session.module_number === null || session.module_number === undefined) return "";
  const module = schemeOf(session)?.modules.find((m) => m.number === session.module_number);
  return ` — module ${session.module_number}${module ? `. ${module.title}` : ""}`;
}

async function homeView() {
  const sheets = await mySheets();
  const waitingFor = new Set(sheets.filter((s) => s.state === "waiting").map((s) => s.session_id));
  const nodes = [];
  if (!week) {
    nodes.push(
      el("h2", {}, "Séances de la semaine"),
      el("p", {}, "Les séances n’ont pas encore été chargées sur ce téléphone : ouvrez cette page une première fois avec du réseau."),
    );
    return show(...nodes);
  }
  nodes.push(
    el("h2", {}, `Séances — ${week.owner.epn}`),
    el(
      "p",
      { class: "fr-text--sm" },
      `Gardées sur le téléphone ${week.period}. Mises à jour le ${new Date(week.fetched_at).toLocaleString("fr-FR", { timeZone: week.time_zone, dateStyle: "long", timeStyle: "short" })}.`,
    ),
    el(
      "ul",
      { class: "fr-btns-group fr-btns-group--inline-sm" },
      el("li", {}, el("a", { class: "fr-btn fr-btn--secondary", href: "#chercher" }, "Trouver un chèque (QR code)")),
      el("li", {}, el("a", { class: "fr-btn fr-btn--secondary", href: "#envois" }, `Feuilles enregistrées (${sheets.length})`)),
    ),
  );
  if (week.sessions.length === 0) {
    nodes.push(el("p", {}, "Aucune séance aujourd’hui ni dans les sept jours qui viennent."));
  }
  const list = el("ul", { class: "seances" });
  for (const session of week.sessions) {
    const scheme = schemeOf(session);
    const recorded = session.rows.filter((r) => r.recorded).length;
    list.append(
      el(
        "li",
        { class: "fr-mb-2w" },
        el("a", { class: "fr-link", href: `#seance/${session.id}` }, session.when),
        el("br"),
        el(
          "span",
          { class: "fr-text--sm" },
          `${scheme?.name ?? ""}${moduleLabel(session)} — ${session.duration}${session.place ? ` — ${session.place}` : ""}`,
          session.cancelled ? " — annulée" : ` — ${plural(session.rows.length, "personne", "personnes")}, ${recorded} notée(s)`,
        ),
        waitingFor.has(session.id) ? el("p", { class: "fr-badge fr-badge--warning fr-badge--sm fr-mt-1v" }, "Feuille en attente d’envoi") : null,
      ),
    );
  }
  nodes.push(list);
  show(...nodes);
}

/** One person's block of the sheet, with `prefill` (from a sheet to correct, or a scan). */
function personBlock(session, row, index, prefill) {
  const voucher = voucherByReference(row.reference);
  const name = voucher?.name || row.reference;
  const scheme = schemeOf(session);
  const block = el(
    "section",
    { class: "personne fr-p-2w fr-mb-2w", "aria-labelledby": `personne-${index}`, "data-reference": row.reference },
    el("h3", { class: "fr-h6 fr-mb-1v", id: `personne-${index}` }, name),
    el(
      "p",
      { class: "fr-text--sm fr-mb-1w" },
      `${row.reference} — reste ${voucher?.left ?? "?"}${row.enrolled ? " — inscrit à cette séance" : ""}`,
      voucher?.modules?.length ? ` — modules choisis : ${voucher.modules.join(", ")}` : "",
    ),
  );
  if (row.recorded) {
    block.append(el("p", { class: "fr-badge fr-badge--success fr-mt-1w" }, `Déjà noté : ${row.recorded}`));
    return block;
  }
  const legendId = `statut-${index}-legende`;
  const fieldset = el(
    "fieldset",
    { class: "fr-fieldset fr-mt-1w", "aria-labelledby": legendId },
    el("legend", { class: "fr-fieldset__legend fr-sr-only", id: legendId }, `Présence de ${name}`),
  );
  for (const choice of week.attendance) {
    const id = `statut-${index}-${choice.value}`;
    fieldset.append(
      el(
        "div",
        { class: "fr-fieldset__element fr-fieldset__element--inline" },
        el(
          "div",
          { class: "fr-radio-group" },
          el("input", { type: "radio", id, name: `statut-${index}`, value: choice.value, checked: prefill?.status === choice.value }),
          el("label", { class: "fr-label", for: id }, choice.label, el("span", { class: "fr-sr-only" }, ` : ${name}`)),
        ),
      ),
    );
  }
  block.append(fieldset);
  const offPathId = `horsparcours-${index}`;
  block.append(
    el(
      "div",
      { class: "fr-checkbox-group fr-checkbox-group--sm fr-mb-1w" },
      el("input", { type: "checkbox", id: offPathId, name: offPathId, checked: prefill ? prefill.off_path : row.off_path }),
      el(
        "label",
        { class: "fr-label", for: offPathId },
        "Hors parcours",
        el("span", { class: "fr-sr-only" }, ` pour ${name}`),
        el("span", { class: "fr-hint-text" }, "Ce module ne fait pas partie de ses choix : noter quand même."),
      ),
    ),
  );
  const details = el("details", {}, el("summary", {}, "Compétences de cette personne", el("span", { class: "fr-sr-only" }, ` : ${name}`)));
  // Drawn when opened: most people keep the group's competences, and a sheet of many people
  // would otherwise draw sixteen lists each.
  const fill = () => {
    if (details.dataset.rempli) return;
    details.dataset.rempli = "1";
    for (const competence of scheme?.competences ?? []) {
      const id = `comp-${index}-${competence.code}`;
      const select = el(
        "select",
        { class: "fr-select", id, "data-code": competence.code },
        el("option", { value: "" }, "comme le groupe"),
        el("option", { value: "aucune" }, "non travaillée"),
        ...week.levels.map((l) => el("option", { value: l.value }, l.label)),
      );
      const chosen = prefill?.competences?.[competence.code];
      if (chosen) select.value = chosen;
      details.append(
        el("div", { class: "fr-select-group fr-mt-1w" }, el("label", { class: "fr-label", for: id }, `${competence.code} ${competence.title}`), select),
      );
    }
  };
  details.addEventListener("toggle", () => {
    if (details.open) fill();
  });
  if (prefill && Object.keys(prefill.competences ?? {}).length > 0) {
    fill();
    details.open = true;
  }
  block.append(details);
  return block;
}

/** Lowercase, without accents: « Bessières » is found by « bessieres ». */
function folded(text) {
  return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}

/**
 * The finder of a busy EPN's sheet: the people registered at the EPN who are not on the sheet,
 * found by a part of their name or reference; each one chosen joins the sheet above it, its
 * first choice focused.
 */
function personFinder(session, others, addBlock) {
  const left = [...others];
  const results = el("ul", { class: "trouvees fr-raw-list fr-mt-1w" });
  const said = el("p", { class: "fr-text--sm fr-mb-0", role: "status", "aria-live": "polite" });
  const input = el("input", {
    class: "fr-input",
    id: "chercher-personne",
    type: "search",
    autocomplete: "off",
    "aria-describedby": "chercher-personne-aide",
  });
  const find = () => {
    const wanted = folded(input.value.trim());
    results.replaceChildren();
    if (wanted.length < 2) {
      said.textContent = "";
      return;
    }
    const found = left.filter((row) => {
      const voucher = voucherByReference(row.reference);
      return folded(`${voucher?.name ?? ""} ${row.reference}`).includes(wanted);
    });
    said.textContent =
      found.length === 0
        ? "Aucune personne inscrite à l’EPN ne correspond."
        : found.length > FOUND_AT_MOST
          ? `${found.length} personnes correspondent : les ${FOUND_AT_MOST} premières, précisez pour les autres.`
          : `${plural(found.length, "personne correspond", "personnes correspondent")}.`;
    for (const row of found.slice(0, FOUND_AT_MOST)) {
      const voucher = voucherByReference(row.reference);
      results.append(
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: "fr-btn fr-btn--tertiary fr-btn--sm fr-mb-1v",
              onclick: () => {
                left.splice(left.indexOf(row), 1);
                addBlock(row);
                input.value = "";
                find();
              },
            },
            `Ajouter ${voucher?.name || row.reference} (${row.reference})`,
          ),
        ),
      );
    }
  };
  input.addEventListener("input", find);
  return el(
    "div",
    { class: "recherche-personne fr-input-group fr-p-2w fr-mb-3w" },
    el(
      "label",
      { class: "fr-label", for: "chercher-personne" },
      "Ajouter une personne inscrite à l’EPN",
      el(
        "span",
        { class: "fr-hint-text", id: "chercher-personne-aide" },
        `${plural(others.length, "autre personne inscrite", "autres personnes inscrites")} : tapez au moins deux lettres de son nom ou de sa référence.`,
      ),
    ),
    input,
    said,
    results,
  );
}

/**
 * The sheet of a session. `only` limits it to some references (a correction), `prefill` gives
 * each one's line as it was saved, `replaces` is the key of the sheet it corrects, `scanned` the
 * reference a scan found (ticked present).
 */
function sheetView(sessionId, { only = null, prefill = {}, replaces = null, scanned = null } = {}) {
  const session = sessionById(sessionId);
  if (!session) {
    return show(
      el("h2", {}, "Séance introuvable"),
      el("p", {}, "Cette séance n’est pas dans la semaine gardée sur le téléphone."),
      el("p", {}, el("a", { class: "fr-link", href: "#" }, "Revenir aux séances")),
    );
  }
  const scheme = schemeOf(session);
  const nodes = [
    el("p", { class: "fr-mb-2w" }, el("a", { class: "fr-link fr-icon-arrow-left-line fr-link--icon-left", href: "#" }, "Séances")),
    el("h2", {}, replaces ? "Corriger la feuille" : "Feuille de présence"),
    el("p", { class: "fr-text--lead fr-mb-1w" }, session.when),
    el("p", {}, `${scheme?.name ?? ""}${moduleLabel(session)} — ${session.duration}${session.place ? ` — ${session.place}` : ""}.`),
  ];
  if (session.cancelled) {
    nodes.push(el("p", {}, "Cette séance est annulée : aucune présence ne peut y être notée."));
    return show(...nodes);
  }
  const rows = session.rows.filter((r) => !only || only.includes(r.reference));
  if (only) {
    for (const reference of only) {
      if (!rows.some((r) => r.reference === reference)) rows.push({ reference, enrolled: false, off_path: false });
    }
  }
  if (rows.length === 0) {
    nodes.push(el("p", {}, "Aucun chèque de ce dispositif n’est inscrit dans votre EPN."));
    return show(...nodes);
  }
  const form = el("form", { novalidate: true });
  if (!replaces) {
    const group = el(
      "details",
      { class: "groupe fr-p-2w fr-mb-3w" },
      el("summary", {}, "Compétences travaillées par le groupe"),
      el("p", { class: "fr-text--sm fr-mt-1w fr-mb-1w" }, "Notées une fois pour chaque personne présente ; ajustez une personne plus bas si besoin."),
    );
    for (const competence of scheme?.competences ?? []) {
      const id = `groupe-${competence.code}`;
      group.append(
        el(
          "div",
          { class: "fr-select-group fr-mt-1w" },
          el("label", { class: "fr-label", for: id }, `${competence.code} ${competence.title}`, el("span", { class: "fr-hint-text" }, competence.area)),
          el(
            "select",
            { class: "fr-select", id, "data-groupe": competence.code },
            el("option", { value: "" }, "non travaillée"),
            ...week.levels.map((l) => el("option", { value: l.value }, l.label)),
          ),
        ),
      );
    }
    form.append(group);
  }
  // A busy EPN's sheet lists the people booked on the session, those already noted, and those
  // a correction or a scan brings; the finder adds anyone else registered.
  const listed = only || rows.length <= SHEET_LISTS_EVERYONE_UP_TO
    ? rows
    : rows.filter((r) => r.enrolled || r.recorded || prefill[r.reference] || scanned === r.reference);
  const others = rows.filter((r) => !listed.includes(r));
  let index = 0;
  const blockOf = (row) => {
    const line = prefill[row.reference] ?? (scanned === row.reference ? { status: "present", off_path: row.off_path } : null);
    return personBlock(session, row, index++, line);
  };
  for (const row of listed) form.append(blockOf(row));
  if (others.length > 0) {
    if (listed.length === 0) {
      form.append(el("p", {}, "Personne n’est inscrit à cette séance : ajoutez les personnes venues."));
    }
    const finder = personFinder(session, others, (row) => {
      const block = blockOf(row);
      finder.before(block);
      block.querySelector("input[type=radio]")?.focus();
    });
    form.append(finder);
  }
  const problem = el("p", { class: "fr-error-text fr-mb-2w", id: "feuille-erreur", hidden: true });
  form.append(problem, el("button", { class: "fr-btn fr-btn--lg", type: "submit" }, "Enregistrer la feuille"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const entries = readSheet(form);
    if (entries.length === 0) {
      problem.hidden = false;
      problem.textContent = "Aucune présence cochée : choisissez présent, absent ou excusé pour chaque personne venue ou attendue.";
      problem.focus();
      return;
    }
    await saveSheet(session, entries, replaces);
  });
  nodes.push(form);
  show(...nodes);
  if (scanned) view.querySelector(`[data-reference="${CSS.escape(scanned)}"]`)?.scrollIntoView();
}

/** The sheet's lines, as the server reads them: a competence of the group for everyone present,
 * adjusted per person (a level, « non travaillée », or as the group). */
function readSheet(form) {
  const group = {};
  for (const select of form.querySelectorAll("select[data-groupe]")) {
    if (select.value) group[select.dataset.groupe] = select.value;
  }
  const entries = [];
  for (const block of form.querySelectorAll("section[data-reference]")) {
    const checked = block.querySelector("input[type=radio]:checked");
    if (!checked) continue;
    const competences = checked.value === "present" ? { ...group } : {};
    for (const select of block.querySelectorAll("select[data-code]")) {
      if (select.value === "aucune") delete competences[select.dataset.code];
      else if (select.value) competences[select.dataset.code] = select.value;
    }
    entries.push({
      reference: block.dataset.reference,
      status: checked.value,
      competences,
      off_path: block.querySelector("input[type=checkbox]").checked,
    });
  }
  return entries;
}

/** Stores the sheet on the phone first, then tries to send it. */
async function saveSheet(session, entries, replaces) {
  const key = crypto.randomUUID();
  const sheet = {
    key,
    user_id: owner(),
    session_id: session.id,
    session_when: session.when,
    saved_at: new Date().toISOString(),
    state: "waiting",
    entries,
    // The exact bytes sent, every time: the server knows a sheet sent again by them.
    body: JSON.stringify({ key, session_id: session.id, entries }),
  };
  await storeSheet(sheet);
  if (replaces) {
    const previous = (await mySheets()).find((s) => s.key === replaces);
    if (previous) {
      previous.corrected_by = key;
      await storeSheet(previous);
    }
  }
  location.hash = "#envois";
  await refreshStatus();
  await sendWaiting();
}

const OUTCOMES = {
  recorded: ["success", "Enregistrée"],
  already_recorded: ["info", "Déjà enregistrée"],
  refused: ["error", "Refusée"],
};

async function sheetsView() {
  const sheets = (await mySheets()).reverse();
  const nodes = [
    el("p", { class: "fr-mb-2w" }, el("a", { class: "fr-link fr-icon-arrow-left-line fr-link--icon-left", href: "#" }, "Séances")),
    el("h2", {}, "Feuilles enregistrées"),
  ];
  const waiting = sheets.filter((s) => s.state === "waiting").length;
  if (waiting > 0) {
    nodes.push(
      alertBox(
        "warning",
        plural(waiting, "feuille enregistrée sur le téléphone, pas encore envoyée", "feuilles enregistrées sur le téléphone, pas encore envoyées"),
        "Elles partiront d’elles-mêmes dès que le réseau revient. Vous pouvez fermer l’application : elles restent sur le téléphone.",
        el("button", { class: "fr-btn fr-btn--sm fr-mt-1w", type: "button", onclick: () => sendWaiting() }, "Envoyer maintenant"),
      ),
    );
  }
  if (sheets.length === 0) nodes.push(el("p", {}, "Aucune feuille enregistrée sur ce téléphone."));
  for (const sheet of sheets) {
    const item = el("section", { class: "envoi fr-p-2w fr-mb-2w", "data-key": sheet.key, "data-etat": sheet.state });
    item.append(el("h3", { class: "fr-h6 fr-mb-1v" }, `Séance du ${sheet.session_when}`));
    if (sheet.state === "waiting") {
      item.append(el("p", { class: "fr-badge fr-badge--warning" }, "Enregistrée sur le téléphone, pas encore envoyée"));
      item.append(el("p", { class: "fr-text--sm" }, plural(sheet.entries.length, "ligne", "lignes")));
    } else {
      const report = sheet.report;
      if (report.whole) item.append(el("p", { class: "fr-error-text" }, `Feuille refusée : ${report.whole}`));
      const list = el("ul", { class: "lignes" });
      for (const line of report.lines) {
        const [kind, label] = OUTCOMES[line.outcome] ?? OUTCOMES.refused;
        // A sheet refused whole says why once, above its lines.
        const text = report.whole ? line.reference : line.text;
        list.append(
          el(
            "li",
            { "data-reference": line.reference, "data-issue": line.outcome },
            el("span", { class: `fr-badge fr-badge--sm fr-badge--${kind} fr-mr-1w` }, label),
            " ",
            text,
          ),
        );
      }
      item.append(list);
      const refusedLines = report.lines.filter((l) => l.outcome === "refused");
      const correctable = report.whole ? sheet.entries : sheet.entries.filter((e) => refusedLines.some((l) => l.reference === e.reference));
      if (sheet.corrected_by) {
        item.append(el("p", { class: "fr-text--sm" }, "Corrigée par une feuille plus récente."));
      } else if (correctable.length > 0) {
        item.append(
          el("a", { class: "fr-btn fr-btn--secondary fr-btn--sm", href: `#corriger/${sheet.key}` }, "Corriger et renvoyer", el("span", { class: "fr-sr-only" }, ` la feuille du ${sheet.session_when}`)),
        );
      }
    }
    nodes.push(item);
  }
  show(...nodes);
}

async function correctView(key) {
  const sheet = (await mySheets()).find((s) => s.key === key);
  if (!sheet || sheet.state !== "sent") return sheetsView();
  const refused = new Set(sheet.report.lines.filter((l) => l.outcome === "refused").map((l) => l.reference));
  const lines = sheet.report.whole ? sheet.entries : sheet.entries.filter((e) => refused.has(e.reference));
  const prefill = Object.fromEntries(lines.map((line) => [line.reference, line]));
  sheetView(sheet.session_id, { only: lines.map((l) => l.reference), prefill, replaces: key });
}

// ---------------------------------------------------------------------------------------------
// Finding a voucher: the QR code of the letter (`…/p/<territoire>/<code>`), its code, or the
// voucher's reference typed.

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LOOKUP_LABEL = new TextEncoder().encode("passerelle epn letter lookup v1");

/** The ten bytes of a holder's code, read as the server reads it; `null` for anything else. */
function codeBytes(text) {
  const clean = text
    .toUpperCase()
    .replace(/[-\s]/g, "")
    .replace(/O/g, "0")
    .replace(/[IL]/g, "1");
  if (!/^[0-9A-HJKMNP-TV-Z]{16}$/.test(clean)) return null;
  const bytes = new Uint8Array(10);
  let buffer = 0;
  let bits = 0;
  let at = 0;
  for (const char of clean) {
    buffer = (buffer << 5) | CROCKFORD.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes[at++] = (buffer >> bits) & 0xff;
    }
  }
  return bytes;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** What the week's vouchers carry for a letter code: SHA-256(label ‖ SHA-256(code)). */
async function letterLookup(bytes) {
  const inner = await sha256(bytes);
  const joined = new Uint8Array(LOOKUP_LABEL.length + inner.length);
  joined.set(LOOKUP_LABEL);
  joined.set(inner, LOOKUP_LABEL.length);
  return Array.from(await sha256(joined), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a scanned or typed text designates: the voucher among the week's, else the letter's
 * code or the reference typed, to ask the service about. */
async function findVoucher(text) {
  const trimmed = text.trim();
  const letter = /\/p\/([a-z0-9-]+)\/([0-9A-Za-z-]+)\/?$/.exec(trimmed);
  const codeText = letter ? letter[2] : trimmed;
  const code = codeBytes(codeText);
  if (code) {
    const lookup = await letterLookup(code);
    return { voucher: week.vouchers.find((v) => v.letter === lookup) ?? null, code: codeText };
  }
  const reference = trimmed.toUpperCase();
  return { voucher: voucherByReference(reference), reference };
}

/** The vouchers of a letter that is not on the week's sheets, asked to the service (online). */
async function lettersVouchers(code) {
  try {
    const response = await fetch(`${APP}/courrier?code=${encodeURIComponent(code)}`, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return null;
    return (await response.json()).vouchers;
  } catch {
    return null;
  }
}

function registerLink(reference) {
  return el("a", { class: "fr-link", href: `${PORTAIL}/epn/inscription?reference=${encodeURIComponent(reference)}` }, `Inscrire le chèque ${reference} dans l’EPN`);
}

/** What to tell when the voucher is not on the week's sheets. */
async function notOnTheWeek({ code, reference }) {
  const title = "Chèque absent des feuilles de la semaine";
  if (reference) {
    return alertBox("info", title, "Aucun chèque de cette référence n’est inscrit aux séances de la semaine gardées sur le téléphone.", el("p", {}, registerLink(reference)));
  }
  const found = navigator.onLine ? await lettersVouchers(code) : null;
  if (found === null) {
    return alertBox("info", title, "Ce courrier ne correspond à aucun chèque des séances de la semaine. Avec du réseau, cherchez-le à nouveau pour l’inscrire dans l’EPN.");
  }
  if (found.length === 0) {
    return alertBox("warning", "Courrier inconnu", "Ce code ne correspond à aucun chèque en cours dans ce territoire : le lien a peut-être été renouvelé par la personne. Tapez la référence imprimée sur le courrier.");
  }
  return alertBox(
    "info",
    title,
    "Les chèques en cours de cette personne :",
    el(
      "ul",
      {},
      found.map((v) => el("li", {}, v.registered_here ? `${v.reference} : inscrit dans votre EPN, sur aucune séance de la semaine.` : registerLink(v.reference))),
    ),
  );
}

/** Decodes the QR code of an image (a photo, a frame of the camera): the browser's own
 * detector where it has one, the pinned decoder otherwise. */
async function decodeImage(source) {
  if ("BarcodeDetector" in window) {
    try {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      const found = await detector.detect(source);
      if (found.length > 0) return found[0].rawValue;
    } catch {
      // Some browsers announce the detector without a QR engine: fall back to the decoder.
    }
  }
  if (typeof window.jsQR !== "function") return null;
  const width = source.videoWidth || source.width;
  const height = source.videoHeight || source.height;
  if (!width || !height) return null;
  const scale = Math.min(1, 1600 / Math.max(width, height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  return window.jsQR(pixels.data, canvas.width, canvas.height)?.data ?? null;
}

let camera = null;

function stopCamera() {
  camera?.getTracks().forEach((track) => track.stop());
  camera = null;
}

function lookupView() {
  const result = el("div", { id: "resultat-recherche", "aria-live": "polite" });
  const found = async (text) => {
    if (!text) {
      result.replaceChildren(alertBox("warning", "Aucun QR code lu", "Rapprochez le courrier, ou tapez la référence du chèque."));
      return;
    }
    stopCamera();
    const designated = await findVoucher(text);
    if (!designated.voucher) {
      result.replaceChildren(await notOnTheWeek(designated));
      return;
    }
    result.replaceChildren(voucherCard(designated.voucher));
    result.querySelector("h3")?.focus();
  };
  const file = el("input", { class: "fr-upload", type: "file", id: "photo-qr", accept: "image/*", capture: "environment" });
  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    const image = await createImageBitmap(chosen);
    await found(await decodeImage(image));
  });
  const typed = el("input", { class: "fr-input", id: "reference-tapee", autocomplete: "off", autocapitalize: "characters" });
  const form = el(
    "form",
    { novalidate: true, class: "fr-mt-3w" },
    el(
      "div",
      { class: "fr-input-group" },
      el("label", { class: "fr-label", for: "reference-tapee" }, "Référence du chèque ou code du courrier", el("span", { class: "fr-hint-text" }, "Par exemple LOT-7K4M-Q2XP, ou les 16 caractères imprimés sous le QR code.")),
      typed,
    ),
    el("button", { class: "fr-btn", type: "submit" }, "Chercher"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await found(typed.value);
  });
  const nodes = [
    el("p", { class: "fr-mb-2w" }, el("a", { class: "fr-link fr-icon-arrow-left-line fr-link--icon-left", href: "#" }, "Séances")),
    el("h2", {}, "Trouver un chèque"),
    el("p", {}, "Scannez le QR code du courrier remis à la personne, ou tapez la référence du chèque."),
  ];
  if (navigator.mediaDevices?.getUserMedia) {
    const video = el("video", { class: "camera", playsinline: true, muted: true, hidden: true, "aria-label": "Image de l’appareil photo" });
    const start = el("button", { class: "fr-btn fr-btn--secondary fr-mb-2w", type: "button" }, "Scanner avec l’appareil photo");
    start.addEventListener("click", async () => {
      try {
        camera = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      } catch {
        result.replaceChildren(alertBox("warning", "Appareil photo indisponible", "Autorisez l’appareil photo, ou prenez le QR code en photo ci-dessous."));
        return;
      }
      video.srcObject = camera;
      video.hidden = false;
      await video.play();
      const scan = async () => {
        if (!camera) return;
        const text = await decodeImage(video);
        if (text) {
          video.hidden = true;
          await found(text);
        } else {
          setTimeout(scan, 300);
        }
      };
      scan();
    });
    nodes.push(start, video);
  }
  nodes.push(
    el(
      "div",
      { class: "fr-upload-group" },
      el("label", { class: "fr-label", for: "photo-qr" }, "Ou une photo du QR code", el("span", { class: "fr-hint-text" }, "Une image du courrier, prise avec le téléphone.")),
      file,
    ),
    form,
    result,
  );
  show(...nodes);
}

/** How many of the week's sessions a found voucher's card offers: the nearest in time. */
const CARD_SESSIONS = 4;

function voucherCard(voucher) {
  const now = Date.now();
  const sessions = week.sessions
    .filter((s) => !s.cancelled && s.rows.some((r) => r.reference === voucher.reference && !r.recorded))
    .sort((a, b) => Math.abs(Date.parse(a.starts_at) - now) - Math.abs(Date.parse(b.starts_at) - now))
    .slice(0, CARD_SESSIONS);
  return el(
    "div",
    { class: "fr-card fr-p-2w fr-mt-2w cheque-trouve" },
    el("h3", { class: "fr-h5", tabindex: "-1" }, voucher.name || voucher.reference),
    el("p", {}, `${voucher.reference} — reste ${voucher.left}`),
    voucher.modules.length ? el("p", { class: "fr-text--sm" }, `Modules choisis : ${voucher.modules.join(", ")}`) : null,
    sessions.length
      ? el(
          "ul",
          {},
          sessions.map((s) =>
            el("li", {}, el("a", { class: "fr-link", href: `#seance/${s.id}/${encodeURIComponent(voucher.reference)}` }, `Noter sa présence : ${s.when}`)),
          ),
        )
      : el("p", {}, "Aucune séance de la semaine ne peut l’accueillir."),
  );
}

// ---------------------------------------------------------------------------------------------
// Routing on the address's fragment, so that one page (the one the phone keeps) holds the app.

async function route() {
  if (!location.hash.startsWith("#chercher")) stopCamera();
  const [name, id, extra] = location.hash.replace(/^#/, "").split("/");
  if (name === "seance" && week) return sheetView(id, { scanned: extra ? decodeURIComponent(extra) : null });
  if (name === "envois") return sheetsView();
  if (name === "corriger" && week) return correctView(id);
  if (name === "chercher" && week) return lookupView();
  return homeView();
}

async function start() {
  database = await openDatabase();
  week = (await storedWeek()) ?? null;
  const kept = week !== null;
  await route();
  await refreshStatus();
  await fetchWeek();
  // Drawn from the phone's copy already, a view the animator may be typing in stays as it is.
  if (kept) await refreshView();
  else await route();
  await refreshStatus();
  await sendWaiting();
  window.addEventListener("hashchange", () => {
    moved = true;
    route();
  });
  window.addEventListener("online", async () => {
    await refreshStatus();
    await fetchWeek();
    await refreshView();
    await sendWaiting();
  });
  window.addEventListener("offline", refreshStatus);
  setInterval(() => {
    if (navigator.onLine) sendWaiting();
  }, RETRY_MS);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(`${APP}/sw.js`, { scope: `${APP}/` }).catch(() => undefined);
  }
  root.dataset.pret = "1";
}

start();
