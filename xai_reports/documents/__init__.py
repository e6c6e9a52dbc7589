"""Document builders: one module per kind, each producing a plain content tree."""
