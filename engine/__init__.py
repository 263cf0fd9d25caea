"""IMP Lab's engine: the science, usable without the app (it never imports Streamlit)."""
