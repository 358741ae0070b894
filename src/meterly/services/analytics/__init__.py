"""What is read back: revenue analytics for the operator, and the customer portal's view
of its subscriptions, usage, invoices and wallets."""

from meterly.services.analytics import portal, revenue, usage_analytics
from meterly.services.analytics.portal import issue_token
from meterly.services.analytics.revenue import MonthRow

__all__ = ["MonthRow", "issue_token", "portal", "revenue", "usage_analytics"]
