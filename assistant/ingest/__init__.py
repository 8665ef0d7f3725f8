"""Files → documents → chunks → index. Knows nothing of the UI or of answering."""
