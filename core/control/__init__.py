"""Control from outside the window: one set of actions, and the local API (WebSocket, OSC) that sends them."""
