"""The customer portal's own labels (beyond those it shares with documents), in every
shipped language: English, French, German, Spanish, Italian, Dutch, Portuguese.

Written for this project. `i18n.label` reads them with the document labels.
"""

from __future__ import annotations

PORTAL_LABELS: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "customer": ("Customer", "Client", "Kunde", "Cliente", "Cliente", "Klant", "Cliente"),
    "active": ("active", "actif", "aktiv", "activa", "attivo", "actief", "ativa"),
    "live_updated": (
        "live · updated",
        "en direct · mis à jour à",
        "live · aktualisiert um",
        "en directo · actualizado a las",
        "in tempo reale · aggiornato alle",
        "live · bijgewerkt om",
        "ao vivo · atualizado às",
    ),
    "finalized": (
        "finalized",
        "émise",
        "ausgestellt",
        "emitida",
        "emessa",
        "definitief",
        "emitida",
    ),
    "pending": ("pending", "en attente", "offen", "pendiente", "in attesa", "open", "pendente"),
    "succeeded": ("paid", "payée", "bezahlt", "pagada", "pagata", "betaald", "paga"),
    "failed": (
        "failed",
        "échoué",
        "fehlgeschlagen",
        "fallido",
        "non riuscito",
        "mislukt",
        "falhou",
    ),
    "pay": ("Pay", "Payer", "Bezahlen", "Pagar", "Paga", "Betalen", "Pagar"),
    "this_period": (
        "This period",
        "Cette période",
        "Dieser Zeitraum",
        "Este período",
        "Questo periodo",
        "Deze periode",
        "Este período",
    ),
    "previous_period": (
        "Previous period",
        "Période précédente",
        "Vorheriger Zeitraum",
        "Período anterior",
        "Periodo precedente",
        "Vorige periode",
        "Período anterior",
    ),
    "day_of_period": (
        "day of period",
        "jour de la période",
        "Tag des Zeitraums",
        "día del período",
        "giorno del periodo",
        "dag van de periode",
        "dia do período",
    ),
    "why_this_amount": (
        "Why this amount",
        "Détail du calcul",
        "Wie sich der Betrag ergibt",
        "Cómo se calcula",
        "Come si calcola",
        "Hoe het bedrag ontstaat",
        "Como se calcula",
    ),
    "explain_intro": (
        "Each line as it was computed when the invoice was issued, then how coupons, taxes"
        " and credits moved the total.",
        "Chaque ligne telle qu'elle a été calculée à l'émission de la facture, puis l'effet"
        " des remises, taxes et crédits sur le total.",
        "Jede Zeile, wie sie bei Ausstellung der Rechnung berechnet wurde, dann wie Gutscheine,"
        " Steuern und Guthaben den Gesamtbetrag verändert haben.",
        "Cada línea tal como se calculó al emitir la factura y, después, cómo los cupones,"
        " impuestos y créditos cambiaron el total.",
        "Ogni riga come è stata calcolata all'emissione della fattura, poi come coupon, imposte"
        " e crediti hanno cambiato il totale.",
        "Elke regel zoals die bij het uitreiken van de factuur is berekend, daarna hoe coupons,"
        " belastingen en tegoeden het totaal veranderden.",
        "Cada linha tal como foi calculada na emissão da fatura e, depois, como cupons,"
        " impostos e créditos mudaram o total.",
    ),
    "events_counted": (
        "events counted",
        "événements comptés",
        "gezählte Ereignisse",
        "eventos contados",
        "eventi conteggiati",
        "getelde gebeurtenissen",
        "eventos contados",
    ),
    "back": ("Back", "Retour", "Zurück", "Volver", "Indietro", "Terug", "Voltar"),
}
