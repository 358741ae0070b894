/* The hosted payment page: collects a card with the provider's script (Stripe.js),
   saves it, then asks Meterly to charge the invoice. A file, not an inline script: the
   page's Content-Security-Policy (web/security.py) runs no inline script. */
(function () {
  const config = JSON.parse(document.getElementById("pay-config").textContent);
  const form = document.getElementById("pay-form");
  if (!form) return;
  const status = document.getElementById("pay-status");
  const button = document.getElementById("pay-button");
  const stripe = Stripe(config.publishable_key);
  const card = stripe.elements().create("card");
  card.mount("#card-element");

  function show(kind, text) {
    status.dataset.kind = kind;
    status.textContent = text;
    button.disabled = kind === "busy" || kind === "done";
  }
  async function call(step, body) {
    const response = await fetch(config.base + "/" + step, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body || {}),
    });
    return response.json();
  }
  function finished(text) {
    show("done", text);
    if (config.success_redirect_url) window.location.assign(config.success_redirect_url);
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    show("busy", "Processing…");
    const setup = await call("setup");
    if (setup.status !== "ready") return show("error", setup.message || "Payment is not available.");
    const saved = await stripe.confirmCardSetup(setup.client_secret, {payment_method: {card: card}});
    if (saved.error) return show("error", saved.error.message || "The card was refused.");
    const method = saved.setupIntent.payment_method;
    if (!config.invoice) {
      const kept = await call("save", {payment_method: method});
      return kept.status === "saved" ? finished("Your card is saved.") : show("error", kept.message || "The card could not be saved.");
    }
    let paid = await call("charge", {payment_method: method});
    if (paid.status === "requires_action") {
      const confirmed = await stripe.confirmCardPayment(paid.client_secret);
      if (confirmed.error) return show("error", confirmed.error.message || "Authentication failed.");
      paid = await call("sync", {payment_intent: paid.payment_intent});
    }
    if (paid.status === "succeeded" || paid.status === "processing") return finished("Paid. Thank you.");
    show("error", paid.message || "The payment failed. Try another card.");
  });
})();
