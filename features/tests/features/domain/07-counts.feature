Feature: Counts override the quantity

  Background:
    Given the retail estate

  @domain-7
  Scenario: A count replaces the quantity whatever it was
    Given "WH01" received a delivery of 100 "p1" at "2024-12-07T08:00:00"
    When "p1" at "WH01" is counted at 97.5 at "2024-12-07T18:00:00"
    Then the stock of "p1" at "WH01" is 97.5, last updated "2024-12-07T18:00:00"

  @domain-7 @domain-4
  Scenario: A count at an untracked location creates a pot that reads never show
    When I send POST /locations/Untracked-1/products/p1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":40,"countedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    And the total of "p1" at "Store-001" is 0.0
    When I send GET /locations/Untracked-1/products/p1
    Then the response is 200 with a body like:
      """
      {"locationId":"Untracked-1","productId":"p1","totalQuantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}
      """

  @domain-7 @domain-8
  Scenario: A count is idempotent like any other write
    When I send POST /locations/WH01/products/p1/counts with:
      """
      {"requestId":"c1","reason":"adminoverride","quantity":"40","countedAt":"2024-12-07T09:00:00Z"}
      """
    Then the response is 201 with body {"requestId":"c1","location":"WH01","productId":"p1","quantity":40.0,"reason":"AdminOverride","countedAt":"2024-12-07T09:00:00"}
    Given "WH01" received a delivery of 2 "p1" at "2024-12-07T10:00:00"
    When I send POST /locations/WH01/products/p1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":40.0,"countedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "WH01" is 42.0, last updated "2024-12-07T10:00:00"
