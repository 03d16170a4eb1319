{{ most_popular_category('country') }}
