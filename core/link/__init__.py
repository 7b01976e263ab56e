"""The remote worker's link: how a client finds and trusts a worker (pairing), and what they say (protocol)."""
