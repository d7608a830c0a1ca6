"""grbl"""
