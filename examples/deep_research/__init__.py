"""Deep research with human-in-the-loop clarification, as one durable stead workflow.

``workflow.py`` defines the workflow (start there), ``research_agents.py`` the agents and their structured
outputs, ``research_tools.py`` the (offline) ``web_search`` tool, ``offline.json`` the canned model replies
of ``stead run --offline``. Run it as a file, ``stead run examples/deep_research/workflow.py:deep_research``, or
as a module from the repository's root, ``stead run examples.deep_research:deep_research``.
"""

from .workflow import deep_research

__all__ = ["deep_research"]
