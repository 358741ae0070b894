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
}
