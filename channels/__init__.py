"""Yishi gateway: the FastAPI app that every channel (web, elder page, WeChat, agent console) uses."""
