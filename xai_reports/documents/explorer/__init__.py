"""The interactive explorer: one offline HTML file to explore a model's decisions, with a what-if panel.

:func:`explorer_data` builds the page's data (every decision scored, explained, its letter's
reasons and counterfactuals; a tree ensemble exported for the what-if panel);
:func:`write_explorer` writes the self-contained page (inline script and style, a
Content-Security-Policy forbidding network access).
"""

from .data import explorer_data, hidden_columns
from .page import explorer_html, write_explorer


__all__ = ["explorer_data", "explorer_html", "write_explorer", "hidden_columns"]
