"""From question to verified answer: read the conversation, retrieve, choose sentences, compose
a cited reply and verify every quote and marker before it is sent."""
