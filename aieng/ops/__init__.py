"""Month 11: operating AI systems in production: the gateway, telemetry, LLMOps, safety and deployment.

Month 11's package (chapters/11-llmops). One module a concept; import them by their full path
(``from aieng.ops.gateway import ...``).
"""
