"""The Streamlit front end: pages that call the posecloud API over HTTP (``app.client``), served
to browsers by the API under ``/ui/`` on its own port."""
