"""Start the web app: ``python app.py`` (same as ``assistant serve``).

Host and port come from ASSISTANT_HOST / ASSISTANT_PORT (or GRADIO_SERVER_PORT); default 127.0.0.1:7860.
"""

from assistant.ui import serve

if __name__ == "__main__":
    serve()
