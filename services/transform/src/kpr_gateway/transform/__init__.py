"""transform: data-quality rules, batching per tenant, KPR_IPL and KPR_IDE with their MsgHeads."""
