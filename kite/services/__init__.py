"""The Kite service, one module per concern (HackSoft's styleguide, for a grown services module):

- `sessions`: the Kite session of an account (exchange a request token, end it, forget it);
- `login`: the login URL with its signed single-use state, and the callback's check of that state;
- `provisioning`: a sandbox account's key and secret, from the sandbox;
- `execution`: the tool pipeline (validate, gate, run once, audit) behind every front.

Data flows one way: a view, an API call or an MCP tool call -> here -> kite.client -> Kite.
"""
