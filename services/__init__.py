"""Cross-domain orchestration that both front ends call: chat in its plain, session and RAG modes
(and agent and verify runs). Returns response objects; never imports a front end."""
