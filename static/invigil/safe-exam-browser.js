// Safe Exam Browser versions that send no key headers (its modern web view) give the page the same
// per-URL hashes through their JavaScript API. Send them with the page's URL; the server checks them as
// it would check the headers and, if they match, the exam page is loaded again.
const box = document.getElementById("seb-required");
const status = document.getElementById("seb-javascript-result");
const security = window.SafeExamBrowser && window.SafeExamBrowser.security;

async function sendKeys() {
  const token = box.querySelector("input[name=csrfmiddlewaretoken]").value;
  const response = await fetch(box.dataset.verifyUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": token },
    body: JSON.stringify({
      url: window.location.href,
      config_key: security.configKey || "",
      browser_exam_key: security.browserExamKey || "",
    }),
  });
  if (response.ok) {
    status.textContent = "Safe Exam Browser checked: opening the exam.";
    window.location.reload();
    return;
  }
  const body = await response.json().catch(() => ({}));
  status.textContent = body.detail || "Safe Exam Browser's keys could not be checked.";
}

if (box && security) {
  if (typeof security.updateKeys === "function" && !security.configKey) {
    // SEB 3.0 for macOS and iOS sets the keys only when asked, then calls back.
    security.updateKeys(() => sendKeys());
  } else {
    sendKeys();
  }
}
