if __name__=='__main__':
    """For use with integration tests expecting failures."""
    raise Exception('This failure is expected.')
