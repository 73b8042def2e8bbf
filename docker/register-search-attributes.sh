#!/bin/sh
# Registers Cashloop's search attributes on a real cluster (keep in step with
# workflows/search.py ALL_KEYS; tests/unit/test_docker_files.py checks it).
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
until temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; do sleep 2; done
for pair in CustomerId=Keyword SubscriptionId=Keyword LegalEntity=Keyword CorrelationId=Keyword \
            O2CFlow=Keyword O2CState=Keyword PostingStatus=Keyword InvoiceIds=KeywordList \
            ErpDocumentIds=KeywordList AmountDue=Double NextActionAt=Datetime \
            Findings=KeywordList InvoicePostedAt=Datetime ParkedSince=Datetime \
            ParkedReason=Keyword ParkedStep=Keyword; do
  name="${pair%%=*}"; type="${pair#*=}"
  temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type" \
    || echo "search attribute $name exists"
done
