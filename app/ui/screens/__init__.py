"""The pages of the front end, one file each (Streamlit runs them by path; a package so that the import checks cover them)."""
