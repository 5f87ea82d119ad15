// spire's page: asks for the API key once (kept in sessionStorage, never in a URL),
// fetches the server-rendered view with it, and sends grades. No other script runs.
"use strict";
(function () {
  const KEY = "spire-api-key";
  const body = document.body;
  const view = document.getElementById("view");
  const keyBox = document.getElementById("key-box");
  const keyInput = document.getElementById("api-key");

  function headers(extra) {
    const out = Object.assign({}, extra || {});
    const key = sessionStorage.getItem(KEY);
    if (key) out["X-API-Key"] = key;
    return out;
  }

  async function message(res) {
    try {
      const data = await res.json();
      return (data.error && data.error.message) || "error " + res.status;
    } catch (e) {
      return "error " + res.status;
    }
  }

  function askKey(note) {
    keyBox.hidden = false;
    document.getElementById("key-message").textContent = note;
    keyInput.focus();
  }

  async function loadView() {
    if (!sessionStorage.getItem(KEY)) {
      askKey("");
      return;
    }
    const res = await fetch(body.dataset.part, { headers: headers() });
    if (res.status === 401) {
      sessionStorage.removeItem(KEY);
      askKey("That key was refused; try again.");
      return;
    }
    if (!res.ok) {
      view.textContent = await message(res);
      return;
    }
    view.innerHTML = await res.text(); // the server's fragment: every value escaped there
    keyBox.hidden = true;
    wire();
  }

  function saveKey() {
    const key = keyInput.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    keyInput.value = "";
    loadView();
  }

  async function grade(event) {
    const button = event.target.closest("button.grade");
    if (!button) return;
    const box = event.currentTarget;
    const status = box.querySelector(".grade-status");
    status.textContent = "saving…";
    status.className = "grade-status";
    const res = await fetch("/ui/grade", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({
        qid: box.dataset.qid,
        docid: box.dataset.docid,
        grade: Number(button.dataset.grade),
      }),
    });
    if (!res.ok) {
      status.textContent = await message(res);
      status.className = "grade-status failed";
      if (res.status === 401) askKey("Grading needs the API key.");
      return;
    }
    box.querySelectorAll("button.grade").forEach((b) => b.classList.toggle("chosen", b === button));
    status.textContent = "saved";
    status.className = "grade-status saved";
    const badge = box.closest(".hit").querySelector(".badge");
    if (badge) {
      badge.textContent = "rel " + button.dataset.grade;
      badge.className = "badge rel" + button.dataset.grade;
    }
  }

  function wire() {
    view.querySelectorAll(".grading").forEach((box) => box.addEventListener("click", grade));
  }

  document.getElementById("key-save").addEventListener("click", saveKey);
  keyInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") saveKey();
  });
  if (body.dataset.needsKey === "yes") loadView();
  else wire();
})();
