"""The controlled-substance ledger's use cases: stock, preparations and waste, counts, reports, the chain."""
