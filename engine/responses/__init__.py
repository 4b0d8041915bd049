"""OpenAI's Responses API (Code Interpreter subset) and containers, over the Assistants engine.

A Responses call is an Assistants run on a hidden thread (`service`); a container is a sandbox
session that the threads bound to it share (`containers`); the run's steps and message are the
only record, and the Response object and its stream events are derived from them (`build`,
`translate`). Nothing is imported here, so the store can import `schemas` without a cycle.
"""
