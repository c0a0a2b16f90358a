"""WeChat Official Accounts: the XML message webhook in (messages, files and events), a passive
reply, the customer-service message API or a template message out; the custom menu, follower
profiles and one access token shared by every instance."""
