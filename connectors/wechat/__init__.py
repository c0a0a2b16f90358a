"""WeChat Official Accounts: the XML message webhook in, a passive reply or the
customer-service message API out."""
