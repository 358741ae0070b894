#!/bin/bash
# The worked example of docs/corrections.md, run for real: a fresh SQLite database, a server
# under METERLY_FROZEN_TIME, curl, and `meterly bill --corrections`. METERLY=path/to/meterly.
set -e
DIR=${DIR:-$(mktemp -d)}; cd "$DIR"
rm -f demo.db
export METERLY_DATABASE_URL=sqlite:///$DIR/demo.db
M=${METERLY:-meterly}
run() { echo "\$ $*"; "$@"; echo; }
$M db upgrade >/dev/null
KEY=$($M org create Acme 2>&1 | sed -n 's/^key: //p')
[ -n "$KEY" ] || { echo "no API key" >&2; exit 1; }
trap '[ -n "$PID" ] && kill $PID 2>/dev/null || true' EXIT
start() {
  METERLY_FROZEN_TIME=$1 $M serve --port 8765 --no-worker >$DIR/serve.log 2>&1 &
  PID=$!
  for i in $(seq 300); do curl -sf localhost:8765/health >/dev/null && break; sleep 0.2; done
}
stop() { kill $PID; wait $PID 2>/dev/null || true; }
api() { local method=$1 path=$2 body=$3
  echo "\$ curl -X $method localhost:8765/api/v1/$path ${body:+-d '$body'}"
  curl -s -X "$method" "localhost:8765/api/v1/$path" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' ${body:+-d "$body"} | python3 -m json.tool | head -${4:-40}
  echo
}
quiet() { curl -s -X "$1" "localhost:8765/api/v1/$2" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' ${3:+-d "$3"} >/dev/null; }
start 2024-01-15T12:00:00Z
quiet POST taxes '{"tax":{"name":"VAT","code":"vat","rate":"20","applied_to_organization":true}}'
quiet POST billable_metrics '{"billable_metric":{"name":"Data","code":"mb","aggregation_type":"sum_agg","field_name":"mb"}}'
BM=$(curl -s localhost:8765/api/v1/billable_metrics/mb -H "Authorization: Bearer $KEY" | python3 -c 'import json,sys;print(json.load(sys.stdin)["billable_metric"]["lago_id"])')
quiet POST plans "{\"plan\":{\"name\":\"Metered\",\"code\":\"metered\",\"interval\":\"monthly\",\"amount_cents\":0,\"amount_currency\":\"USD\",\"charges\":[{\"billable_metric_id\":\"$BM\",\"charge_model\":\"standard\",\"properties\":{\"amount\":\"2\"}}]}}"
quiet POST customers '{"customer":{"external_id":"acme","name":"Acme Corp","currency":"USD"}}'
quiet POST subscriptions '{"subscription":{"external_customer_id":"acme","plan_code":"metered","external_id":"sub_acme","subscription_at":"2024-01-01T00:00:00Z"}}'
echo "# January: two events, 5 mb and 3 mb, at \$2 per mb"
quiet POST events '{"event":{"transaction_id":"evt_1","external_subscription_id":"sub_acme","code":"mb","timestamp":"1704888000","properties":{"mb":5}}}'
quiet POST events '{"event":{"transaction_id":"evt_2","external_subscription_id":"sub_acme","code":"mb","timestamp":"1704974400","properties":{"mb":3}}}'
stop
run $M bill --as-of 2024-02-01T01:00:00Z --allow-future
start 2024-02-01T02:00:00Z
INV=$(curl -s "localhost:8765/api/v1/invoices" -H "Authorization: Bearer $KEY" | python3 -c 'import json,sys;i=json.load(sys.stdin)["invoices"][0];print(i["lago_id"])')
echo "# The January invoice, finalized:"
curl -s "localhost:8765/api/v1/invoices/$INV" -H "Authorization: Bearer $KEY" | python3 -c 'import json,sys;i=json.load(sys.stdin)["invoice"];print({k:i[k] for k in ("number","status","fees_amount_cents","taxes_amount_cents","total_amount_cents")})'
echo
echo "# evt_2 was sent twice by mistake upstream: void it"
api DELETE "events/evt_2" "" 20
stop
run $M bill --corrections --as-of 2024-02-01T03:00:00Z --allow-future
start 2024-02-01T04:00:00Z
echo "# The credit note: 3 mb × \$2 = \$6.00 over-billed, + 20 % VAT"
curl -s "localhost:8765/api/v1/credit_notes" -H "Authorization: Bearer $KEY" | python3 -c '
import json,sys
for n in json.load(sys.stdin)["credit_notes"]:
    print({k:n[k] for k in ("number","reason","description","sub_total_excluding_taxes_amount_cents","taxes_amount_cents","total_amount_cents","credit_amount_cents")})'
echo
echo "# evt_1 really measured 9 mb: amend it"
api POST "events/evt_1/amend" '{"event":{"properties":{"mb":9}}}' 20
stop
run $M bill --corrections --as-of 2024-02-01T05:00:00Z --allow-future
start 2024-02-01T06:00:00Z
echo "# The correction invoice: 9 × \$2 = \$18.00 against \$16.00 − \$6.00 = \$10.00 billed: \$8.00 more, + 20 % VAT"
curl -s "localhost:8765/api/v1/invoices" -H "Authorization: Bearer $KEY" | python3 -c '
import json,sys
for i in json.load(sys.stdin)["invoices"]:
    print({k:i[k] for k in ("number","invoice_type","status","fees_amount_cents","taxes_amount_cents","total_amount_cents","metadata")})'
echo
FIX=$(curl -s "localhost:8765/api/v1/invoices" -H "Authorization: Bearer $KEY" | python3 -c 'import json,sys;print([i for i in json.load(sys.stdin)["invoices"] if i["lago_id"]!="'$INV'"][0]["lago_id"])')
echo "\$ curl localhost:8765/api/v1/invoices/<correction>/explain   (its fee: lines, totals, taxes, amount_details)"
curl -s "localhost:8765/api/v1/invoices/$FIX/explain" -H "Authorization: Bearer $KEY" | python3 -c '
import json,sys
f=json.load(sys.stdin)["explanation"]["fees"][0]
print(json.dumps({"lines":f["lines"],"totals":f["totals"],"taxes":f["taxes"],"amount_details":f["amount_details"]},indent=2))'
echo
stop
echo "# A second run issues nothing; the audit finds no drift (the fee as corrected re-derives)"
run $M bill --corrections --as-of 2024-02-01T07:00:00Z --allow-future
run $M audit
