/*
 * The annotator's page: keyboard shortcuts, drafts, the lease timer, and submit -> next without a wait.
 *
 * Loaded with `defer` from templates/annotation/annotate/page.html; no inline script anywhere (our CSP
 * forbids it). New content is wired on htmx:load, which htmx fires for the first page and for every
 * swap, including the swaps this file makes with htmx.swap().
 *
 * Keyboard map (the page's "?" dialog lists the same keys, from annotation/views/shortcuts.py):
 *   everywhere     Enter submit (outside text boxes) · Ctrl/⌘+Enter submit, also while typing ·
 *                  Esc leave a text box · s skip (asks why) · f flag (asks why) · g guidelines ·
 *                  ? shortcuts · n next item once the time on this one ran out
 *   pairwise       1 A better · 2 B better · 3 tie · 4 both bad · q w e r t (or Shift+1..5) strength ·
 *                  c reason
 *   ranking        1-9 select the response at that place · ↑/k and ↓/j move it · t tie it with the
 *                  one above (when the project allows ties)
 *   rating         0-9 score the current aspect (the score itself on scales within 0-9, else the n-th
 *                  point) and go to the next aspect · ↓/Tab next aspect · ↑/Shift+Tab previous ·
 *                  ←/→ change the score · c comment on the current aspect
 *   free text      c critique · e edit the response
 * Letter and number keys never fire while the cursor is in a text box, select or text input.
 *
 * Pre-fetch (see annotation/views/annotate.py for the server side): while a task is open, the next
 * one is fetched from the prefetch endpoint and kept here as HTML. Submit swaps it in at once and
 * posts the answer in the background, naming the swapped-in item (X-Prefetched); the response is
 * then only the progress counts, or the next task if that lease was gone (shown instead), or, if the
 * answer was refused, the server's message or the form with its errors, shown in place.
 */
(function () {
  "use strict";

  var DRAFT_PREFIX = "loopfeedback:draft:";
  var DRAFT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
  // A pre-fetched task with less time than this left is not shown instantly: the server picks again.
  var MIN_PREFETCHED_LEASE_MS = 30 * 1000;
  // Enter this soon after a task appears is ignored, so a double press cannot submit it unread.
  var ENTER_GUARD_MS = 400;
  var REGION_ROOTS = "[data-task], [data-message], [data-empty]";

  var tasks = new WeakMap(); // task section -> {deadline, shownAt, hiddenMs, hiddenSince, expired}
  var next = null; // the pre-fetched task: {id, html, deadline}
  var pending = Promise.resolve(); // the submit in flight; a prefetch waits for it
  var prefetchSeq = 0;
  var draftTimers = new WeakMap();

  // --- helpers -----------------------------------------------------------------------------------

  function region() {
    return document.getElementById("task-region");
  }

  function currentTask() {
    var r = region();
    var task = r ? r.querySelector("[data-task]") : null;
    return task && !task.hidden ? task : null;
  }

  function currentId() {
    var task = currentTask();
    return task ? task.dataset.assignment : null;
  }

  function pageData(name) {
    var root = document.querySelector("[data-annotate]");
    return root ? root.dataset[name] : null;
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function requestHeaders(form) {
    // HX-Request: the server answers with the task region's partial, as it does for htmx.
    var headers = { "HX-Request": "true" };
    if (form) headers["X-CSRFToken"] = csrfToken(form);
    return headers;
  }

  function announce(text) {
    var live = document.querySelector("[data-announce]");
    if (live) live.textContent = text;
  }

  function isTyping(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return ["radio", "checkbox", "button", "submit", "reset", "range", "color", "file"].indexOf(el.type) === -1;
  }

  function parseHtml(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    return tpl;
  }

  function show(html) {
    // htmx.swap processes hx-* attributes in the new content and fires htmx:load on it (-> wire).
    htmx.swap(region(), html, { swapStyle: "innerHTML" });
  }

  function formatSeconds(total) {
    var s = Math.max(0, Math.floor(total));
    var m = Math.floor(s / 60);
    var rest = s % 60;
    return m + ":" + (rest < 10 ? "0" : "") + rest;
  }

  // --- drafts (localStorage, per assignment) ------------------------------------------------------

  function draftKey(id) {
    return DRAFT_PREFIX + id;
  }

  function saveDraft(task) {
    var fields = {};
    var any = false;
    task.querySelectorAll("[data-draft]").forEach(function (el) {
      if (el.value !== el.defaultValue) {
        fields[el.dataset.draft] = el.value;
        any = true;
      }
    });
    try {
      if (any) {
        localStorage.setItem(draftKey(task.dataset.assignment), JSON.stringify({ savedAt: Date.now(), fields: fields }));
      } else {
        localStorage.removeItem(draftKey(task.dataset.assignment));
      }
    } catch (e) {
      /* storage full or disabled: drafts are a convenience */
    }
  }

  function saveDraftSoon(task) {
    clearTimeout(draftTimers.get(task));
    draftTimers.set(
      task,
      setTimeout(function () {
        saveDraft(task);
      }, 250)
    );
  }

  function restoreDraft(task) {
    var saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(draftKey(task.dataset.assignment)) || "null");
    } catch (e) {
      saved = null;
    }
    if (!saved || !saved.fields) return;
    task.querySelectorAll("[data-draft]").forEach(function (el) {
      var value = saved.fields[el.dataset.draft];
      // What the server rendered wins when it differs (an answer shown again with its errors).
      if (typeof value === "string" && el.value === el.defaultValue) el.value = value;
    });
  }

  function clearDraft(id) {
    try {
      localStorage.removeItem(draftKey(id));
    } catch (e) {
      /* ignore */
    }
  }

  function pruneDrafts() {
    try {
      var old = [];
      for (var i = 0; i < localStorage.length; i++) {
        var key = localStorage.key(i);
        if (key && key.indexOf(DRAFT_PREFIX) === 0) {
          var saved = JSON.parse(localStorage.getItem(key) || "null");
          if (!saved || Date.now() - saved.savedAt > DRAFT_MAX_AGE_MS) old.push(key);
        }
      }
      old.forEach(function (key) {
        localStorage.removeItem(key);
      });
    } catch (e) {
      /* ignore */
    }
  }

  // --- per-kind form behaviour --------------------------------------------------------------------

  function updateStrength(task) {
    var group = task.querySelector("[data-strength-group]");
    if (!group) return;
    var chosen = task.querySelector("input[name=choice]:checked");
    var preferred = !!(chosen && chosen.hasAttribute("data-preferred"));
    group.hidden = !preferred;
    var first = group.querySelector("input[type=radio]");
    if (first) first.required = preferred;
  }

  function originalText(task) {
    var tpl = task.querySelector("template[data-original-text]");
    return tpl ? tpl.content.textContent : null;
  }

  function updateFreeTextValidity(task) {
    // Mirrors annotation/schemas.py: a critique or an edit is needed, and an edit when it is required.
    var critique = task.querySelector("textarea[name=critique]");
    var edit = task.querySelector("textarea[name=edited_text]");
    var original = originalText(task);
    var edited = !!(edit && original !== null && edit.value !== original);
    var mustEdit = !!(edit && edit.dataset.required === "true" && !edited);
    var editMessage = mustEdit ? "Change the response before submitting." : "";
    var emptyMessage = !(critique && critique.value.trim()) && !edited ? "Write a critique or edit the response." : "";
    if (critique) {
      critique.setCustomValidity(emptyMessage);
      if (edit) edit.setCustomValidity(editMessage);
    } else if (edit) {
      edit.setCustomValidity(editMessage || emptyMessage);
    }
  }

  function rankRows(task) {
    return Array.prototype.slice.call(task.querySelectorAll("[data-rank-row]"));
  }

  function renumber(task) {
    var rank = 0;
    rankRows(task).forEach(function (row, i) {
      var tie = row.querySelector("[data-tie]");
      if (tie) {
        if (i === 0) tie.checked = false;
        tie.disabled = i === 0;
      }
      var tied = !!(tie && tie.checked);
      if (!tied) rank += 1;
      row.classList.toggle("tied", tied);
      row.dataset.key = String(i + 1);
      row.dataset.rank = String(rank);
      var number = row.querySelector("[data-rank-number]");
      if (number) number.textContent = String(rank);
      var select = row.querySelector("select");
      if (select) select.value = String(rank);
    });
  }

  function moveRow(row, step) {
    var list = row.parentElement;
    if (step < 0 && row.previousElementSibling) list.insertBefore(row, row.previousElementSibling);
    else if (step > 0 && row.nextElementSibling) list.insertBefore(row.nextElementSibling, row);
    else return;
    var task = row.closest("[data-task]");
    renumber(task);
    row.focus();
    announce("Response " + row.dataset.label + " is now at place " + row.dataset.key + ".");
  }

  function toggleTie(row) {
    var tie = row.querySelector("[data-tie]");
    if (!tie || tie.disabled) return;
    tie.checked = !tie.checked;
    renumber(row.closest("[data-task]"));
    announce("Response " + row.dataset.label + (tie.checked ? " tied with the one above." : " no longer tied."));
  }

  function aspects(task) {
    return Array.prototype.slice.call(task.querySelectorAll("[data-aspect]"));
  }

  function currentAspect(task) {
    var active = document.activeElement;
    var fieldset = active && active.closest ? active.closest("[data-aspect]") : null;
    if (fieldset && task.contains(fieldset)) return fieldset;
    var all = aspects(task);
    for (var i = 0; i < all.length; i++) {
      if (!all[i].querySelector("input:checked")) return all[i];
    }
    return all[0] || null;
  }

  function focusAspect(fieldset) {
    var radio = fieldset.querySelector("input[type=radio]:checked") || fieldset.querySelector("input[type=radio]");
    if (radio) radio.focus();
  }

  function stepAspect(task, fieldset, step) {
    var all = aspects(task);
    var target = all[all.indexOf(fieldset) + step];
    if (target) focusAspect(target);
    else if (step > 0) {
      var submit = task.querySelector("[data-submit]");
      if (submit) submit.focus();
    }
  }

  function scoreAspect(task, digit) {
    var fieldset = currentAspect(task);
    if (!fieldset) return;
    var radios = fieldset.querySelectorAll("input[type=radio]");
    var target = null;
    if (fieldset.dataset.digits === "values") {
      target = fieldset.querySelector('input[type=radio][value="' + digit + '"]');
    } else {
      target = radios[(digit === "0" ? 10 : Number(digit)) - 1] || null;
    }
    if (!target) return;
    target.checked = true;
    target.dispatchEvent(new Event("change", { bubbles: true }));
    stepAspect(task, fieldset, 1);
  }

  function buildPayload(task, form) {
    var kind = task.dataset.kind;
    if (kind === "pairwise") {
      var choice = form.querySelector("input[name=choice]:checked");
      var payload = {};
      var reason = form.querySelector("textarea[name=reason]");
      if (reason) payload.reason = reason.value;
      if (!choice) return payload;
      if (choice.hasAttribute("data-preferred")) {
        var strength = form.querySelector("input[name=strength]:checked");
        payload.outcome = "preferred";
        payload.preferred = Number(choice.value);
        payload.strength = strength ? strength.value : null;
      } else {
        payload.outcome = choice.value;
      }
      return payload;
    }
    if (kind === "ranking") {
      var tiers = [];
      rankRows(task).forEach(function (row, i) {
        var tie = row.querySelector("[data-tie]");
        var id = Number(row.dataset.responseId);
        if (i > 0 && tie && tie.checked) tiers[tiers.length - 1].push(id);
        else tiers.push([id]);
      });
      return { ranking: tiers };
    }
    if (kind === "rating") {
      var ratings = {};
      aspects(task).forEach(function (fieldset) {
        var checked = fieldset.querySelector("input[type=radio]:checked");
        if (!checked) return;
        var entry = { score: Number(checked.value) };
        var comment = fieldset.querySelector("textarea[data-comment]");
        if (comment && comment.value) entry.comment = comment.value;
        ratings[fieldset.dataset.aspect] = entry;
      });
      return { ratings: ratings };
    }
    var result = {};
    var critique = form.querySelector("textarea[name=critique]");
    if (critique) result.critique = critique.value;
    var edit = form.querySelector("textarea[name=edited_text]");
    if (edit) result.edited_text = edit.value === originalText(task) ? null : edit.value;
    return result;
  }

  // --- lease timer and time spent -----------------------------------------------------------------

  function activeMs(st) {
    var now = performance.now();
    var hidden = st.hiddenMs + (st.hiddenSince !== null ? now - st.hiddenSince : 0);
    return Math.max(0, Math.round(now - st.shownAt - hidden));
  }

  function expire(task) {
    var st = tasks.get(task);
    if (!st || st.expired) return;
    st.expired = true;
    ["[data-task-form]", "[data-release]"].forEach(function (sel) {
      var el = task.querySelector(sel);
      if (el) el.hidden = true;
    });
    var gone = task.querySelector("[data-lease-gone]");
    if (gone) {
      gone.hidden = false;
      var button = gone.querySelector("[data-next-item]");
      if (button) button.focus();
    }
  }

  function tick() {
    var task = currentTask();
    var st = task ? tasks.get(task) : null;
    if (!st || st.expired) return;
    var left = (st.deadline - Date.now()) / 1000;
    var text = task.querySelector("[data-timer-text]");
    if (text) text.textContent = formatSeconds(left);
    var timer = task.querySelector("[data-timer]");
    if (timer) timer.classList.toggle("urgent", left < 60);
    if (left <= 0) expire(task);
  }

  // --- pre-fetch and submit -----------------------------------------------------------------------

  function schedulePrefetch(task) {
    next = null;
    var url = pageData("prefetchUrl");
    if (!url) return;
    var id = task.dataset.assignment;
    var seq = ++prefetchSeq;
    var stale = function () {
      return seq !== prefetchSeq || currentId() !== id;
    };
    pending
      .then(function () {
        if (stale()) return null;
        return fetch(url + "?current=" + encodeURIComponent(id), {
          headers: requestHeaders(null),
          credentials: "same-origin",
        }).then(function (response) {
          return response.status === 200 ? response.text() : null;
        });
      })
      .then(function (html) {
        if (!html || stale()) return;
        var section = parseHtml(html).content.querySelector("[data-task]");
        if (!section || section.dataset.assignment === id) return;
        var deadline = Date.now() + Number(section.dataset.secondsLeft || 0) * 1000;
        section.removeAttribute("hidden");
        section.dataset.deadline = String(deadline);
        next = { id: section.dataset.assignment, html: section.outerHTML, deadline: deadline };
      })
      .catch(function () {
        next = null; // offline or refused: the next submit waits for the server instead
      });
  }

  function setBusy(task, form, busy) {
    form.dataset.busy = busy ? "true" : "";
    task.setAttribute("aria-busy", busy ? "true" : "false");
    var button = form.querySelector("[data-submit]");
    if (button) button.disabled = busy;
  }

  function restore(task, form, message) {
    // Put the answered task back (it is still wired) and say why: its answer was not recorded.
    if (currentTask() !== task) region().replaceChildren(task);
    setBusy(task, form, false);
    var old = form.querySelector("[data-client-error]");
    if (old) old.remove();
    var box = document.createElement("div");
    box.className = "form-errors";
    box.setAttribute("role", "alert");
    box.dataset.clientError = "";
    box.textContent = message;
    form.prepend(box);
    schedulePrefetch(task);
  }

  function replaceProgress(html) {
    var fresh = parseHtml(html).content.querySelector("[data-progress]");
    var task = currentTask();
    var shown = task ? task.querySelector("[data-progress]") : null;
    if (fresh && shown) shown.replaceWith(fresh);
  }

  function submitTask(form) {
    var task = form.closest("[data-task]");
    var st = task ? tasks.get(task) : null;
    if (!task || !st || st.expired || form.dataset.busy) return;
    var id = task.dataset.assignment;
    form.querySelector("input[name=payload]").value = JSON.stringify(buildPayload(task, form));
    form.querySelector("input[name=time_spent_ms]").value = String(activeMs(st));
    clearTimeout(draftTimers.get(task)); // a late debounced save must not bring back a cleared draft
    saveDraft(task);
    var ready = next && next.deadline - Date.now() > MIN_PREFETCHED_LEASE_MS ? next : null;
    next = null;
    prefetchSeq += 1; // a prefetch still waiting for the old task is void
    setBusy(task, form, true);
    var headers = requestHeaders(form);
    // The server then answers with the progress counts only, while that lease is still ours.
    if (ready) headers["X-Prefetched"] = String(ready.id);
    var request = fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: headers,
      credentials: "same-origin",
    });
    // Set before the swap below: the swapped-in task's prefetch must wait for this submit.
    pending = request
      .then(function (response) {
        return response.text().then(function (html) {
          var ok = response.status === 200;
          var usable = parseHtml(html).content.querySelector(REGION_ROOTS);
          if (ok || response.status === 404 || response.status === 409) clearDraft(id);
          if (ok && ready && !usable) {
            replaceProgress(html);
          } else if (ok && ready) {
            // The pre-fetched lease was gone by the time the answer arrived: show what the server gave.
            announce("The pre-fetched item was no longer yours; here is your next one.");
            show(html);
          } else if (usable) {
            if (ready && !ok) announce("Your answer to the previous item was not recorded.");
            show(html);
          } else {
            restore(task, form, "The server could not record this answer (error " + response.status + "). Try again.");
          }
        });
      })
      .catch(function () {
        // The same client key goes with the retry, so an answer that did arrive is recorded once.
        restore(task, form, "Could not reach the server, so this answer may not be recorded. Submit again.");
      });
    if (ready) show(ready.html);
  }

  // --- wiring -------------------------------------------------------------------------------------

  function initTask(task) {
    if (tasks.has(task)) return;
    var secondsLeft = Number(task.dataset.secondsLeft || 0);
    tasks.set(task, {
      deadline: Number(task.dataset.deadline) || Date.now() + secondsLeft * 1000,
      shownAt: performance.now(),
      hiddenMs: 0,
      hiddenSince: document.hidden ? performance.now() : null,
      expired: false,
    });
    restoreDraft(task);
    task.querySelectorAll("[data-rank-select]").forEach(function (el) {
      el.hidden = true; // the move buttons and keys set these selects
    });
    if (task.dataset.kind === "pairwise") updateStrength(task);
    if (task.dataset.kind === "ranking") renumber(task);
    if (task.dataset.kind === "free_text") updateFreeTextValidity(task);
    tick();
    var active = document.activeElement;
    if (!active || active === document.body || !active.isConnected) task.focus({ preventScroll: true });
    var top = region().getBoundingClientRect().top;
    if (top < 0) region().scrollIntoView({ block: "start" });
    schedulePrefetch(task);
  }

  function wire(el) {
    var root = el && el.querySelectorAll ? el : document;
    root.querySelectorAll(".js-only[hidden]").forEach(function (node) {
      if (!node.closest("[data-lease-gone]")) node.hidden = false;
    });
    root.querySelectorAll(".no-js").forEach(function (node) {
      node.hidden = true;
    });
    var found = [];
    if (root.matches && root.matches("[data-task]")) found.push(root);
    root.querySelectorAll("[data-task]").forEach(function (t) {
      found.push(t);
    });
    found.forEach(function (task) {
      if (!task.hidden && task.closest("#task-region")) initTask(task);
    });
  }

  function openShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }

  function toggleGuidelines() {
    var details = document.querySelector("[data-guidelines]");
    if (!details) return;
    details.open = !details.open;
    if (details.open) details.scrollIntoView({ block: "nearest" });
  }

  function openRelease(task, which) {
    var panel = task.querySelector("[data-release]");
    if (!panel) return;
    panel.open = true;
    var first = panel.querySelector('[data-release-form="' + which + '"] input[type=radio]');
    if (first) {
      first.focus();
      first.scrollIntoView({ block: "nearest" });
    }
  }

  function activate(el) {
    if (!el) return false;
    if (el.tagName === "INPUT" && (el.type === "radio" || el.type === "checkbox")) {
      el.click();
      el.focus({ preventScroll: true });
    } else {
      el.focus();
    }
    return true;
  }

  function digitOf(event) {
    var match = /^(?:Digit|Numpad)([0-9])$/.exec(event.code || "");
    if (match) return match[1];
    return /^[0-9]$/.test(event.key) ? event.key : null;
  }

  function kindKey(task, event) {
    // Per-kind keys; true when the key was used.
    var kind = task.dataset.kind;
    var key = event.key;
    var digit = digitOf(event);
    var active = document.activeElement;
    if (kind === "pairwise" && digit && event.shiftKey) {
      return activate(task.querySelector('[data-shift-key="' + digit + '"]'));
    }
    if (event.shiftKey && key !== "?") return false;
    if (kind === "ranking") {
      var row = active && active.closest ? active.closest("[data-rank-row]") : null;
      if (row && !task.contains(row)) row = null;
      if (digit) return activate(task.querySelector('[data-rank-row][data-key="' + digit + '"]'));
      var step = key === "ArrowUp" || key === "k" ? -1 : key === "ArrowDown" || key === "j" ? 1 : 0;
      if (step) {
        if (row) moveRow(row, step);
        else activate(task.querySelector("[data-rank-row]"));
        return true;
      }
      if (key === "t" && row) {
        toggleTie(row);
        return true;
      }
      return false;
    }
    if (kind === "rating") {
      if (digit) {
        scoreAspect(task, digit);
        return true;
      }
      var fieldset = active && active.closest ? active.closest("[data-aspect]") : null;
      if (fieldset && (key === "ArrowUp" || key === "ArrowDown")) {
        stepAspect(task, fieldset, key === "ArrowUp" ? -1 : 1);
        return true;
      }
      if (key === "c") {
        var aspect = currentAspect(task);
        return activate(aspect ? aspect.querySelector("textarea[data-comment]") : null);
      }
      return false;
    }
    var target = digit || key;
    if (!/^[0-9a-z]$/.test(target)) return false;
    return activate(task.querySelector('[data-task-form] [data-key="' + target + '"]'));
  }

  function onKeydown(event) {
    if (event.defaultPrevented || event.isComposing) return;
    if (document.querySelector("dialog[open]")) return; // the dialog closes itself on Esc
    var target = event.target;
    var task = currentTask();
    var st = task ? tasks.get(task) : null;
    var live = !!(task && st && !st.expired);

    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var releaseForm = target.closest ? target.closest("[data-release-form]") : null;
      var form = releaseForm || (live ? task.querySelector("[data-task-form]") : null);
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.key === "Escape") {
      if (isTyping(target)) target.blur();
      return;
    }
    if (isTyping(target) || event.ctrlKey || event.metaKey || event.altKey) return;

    var key = event.key;
    if (key === "?") {
      event.preventDefault();
      openShortcuts();
      return;
    }
    if (key === "g") {
      event.preventDefault();
      toggleGuidelines();
      return;
    }
    var nextButton = region() ? region().querySelector("[data-next-item]:not([hidden])") : null;
    if (nextButton && nextButton.closest("[hidden]")) nextButton = null;
    if (key === "n" && nextButton) {
      event.preventDefault();
      nextButton.click();
      return;
    }
    if (!live) return;
    if (key === "Enter") {
      if (/^(BUTTON|A|SUMMARY)$/.test(target.tagName)) return; // their own Enter
      event.preventDefault();
      if (performance.now() - st.shownAt < ENTER_GUARD_MS) return;
      var inRelease = target.closest ? target.closest("[data-release-form]") : null;
      (inRelease || task.querySelector("[data-task-form]")).requestSubmit();
      return;
    }
    if ((key === "s" || key === "f") && !event.shiftKey) {
      event.preventDefault();
      openRelease(task, key === "s" ? "skip" : "flag");
      return;
    }
    if (kindKey(task, event)) event.preventDefault();
  }

  document.addEventListener("keydown", onKeydown);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("[data-task-form]")) return;
    event.preventDefault();
    submitTask(form);
  });

  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target.closest("[data-move], [data-reset-edit], [data-open-shortcuts]") : null;
    if (!el) return;
    var task = el.closest("[data-task]");
    if (el.matches("[data-open-shortcuts]")) openShortcuts();
    else if (el.matches("[data-move]")) moveRow(el.closest("[data-rank-row]"), el.dataset.move === "up" ? -1 : 1);
    else if (el.matches("[data-reset-edit]") && task) {
      var edit = task.querySelector("textarea[name=edited_text]");
      edit.value = originalText(task);
      updateFreeTextValidity(task);
      saveDraftSoon(task);
      edit.focus();
    }
  });

  document.addEventListener("change", function (event) {
    var task = event.target.closest ? event.target.closest("[data-task]") : null;
    if (!task) return;
    if (event.target.name === "choice") updateStrength(task);
    if (event.target.matches("[data-tie]")) renumber(task);
  });

  document.addEventListener("input", function (event) {
    var task = event.target.closest ? event.target.closest("[data-task]") : null;
    if (!task) return;
    if (task.dataset.kind === "free_text") updateFreeTextValidity(task);
    if (event.target.matches("[data-draft]")) saveDraftSoon(task);
  });

  document.addEventListener("visibilitychange", function () {
    var task = currentTask();
    var st = task ? tasks.get(task) : null;
    if (!st) return;
    if (document.hidden && st.hiddenSince === null) st.hiddenSince = performance.now();
    else if (!document.hidden && st.hiddenSince !== null) {
      st.hiddenMs += performance.now() - st.hiddenSince;
      st.hiddenSince = null;
    }
  });

  // htmx leaves 4xx responses unswapped by default; ours are messages meant for the task region.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403 || status === 404 || status === 409 || status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (!form || !form.matches || !form.matches("[data-release-form]")) return;
    var task = form.closest("[data-task]");
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (task && status === 200) clearDraft(task.dataset.assignment);
  });

  htmx.onLoad(wire);
  setInterval(tick, 1000);
  pruneDrafts();
})();
