"""Cross-domain orchestration that both front ends call: chat in its plain, session and RAG modes (`chat`), agent
and verify runs (`agent`, `verify`, over `recorded_run`), task sweeps (`collect`), model comparisons
(`agent_bench`), the self-improvement loop (`loop`, its state in `loop_state`), the models screen's joined view
(`models`) and RAG collections behind the OpenAI-compatible server (`openai_rag`). Streams are response objects;
what happens in them reaches the front ends as typed events (`core.events.Event`), each defined in the module that
emits it (an agent or verify run's in `agents.events`). Never imports a front end."""
