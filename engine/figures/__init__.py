"""Figures as pure functions from tables to Altair charts, their palette and exports, and the
report built from them: Streamlit-free, so the CLI, a report job and the app share them."""
