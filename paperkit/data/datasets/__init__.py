"""Public dataset layouts, one module each, read as their publishers ship them (never downloaded).

Each module's docstring says where its layout is documented; tests write a tiny fixture in exactly
that layout and load it back."""
