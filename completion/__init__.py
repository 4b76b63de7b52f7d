"""The completion pipeline between the LSP layer and the engine: no LSP types here.

``prepare`` (document and cursor → prompt, plan and stop rules), ``service`` (requests answered by
typed-through anchors, the cache or the model; speculation; warm-up), ``anchors`` and ``cache``
(answers without the model), ``telemetry`` (local acceptance counters on disk) and
``project_context`` (jedi, in the background).
"""
